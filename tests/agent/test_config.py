"""Table tests for the agent's config parser: accepted documents and every rejection."""

import re

import pytest

from ip_masq_agent.config import (
    MAX_PLANNED_CIDRS,
    MAX_PLANNED_CIDRS_NFTABLES,
    ConfigError,
    default_config,
    limit_for,
    parse_config,
)
from ip_masq_agent.prefixes import Prefix
from ip_masq_agent.rules import Masquerade, plan_rules


def test_yaml_overrides_defaults_and_keeps_order() -> None:
    config = parse_config(
        "nonMasqueradeCIDRs: [10.8.0.0/14, 10.0.0.0/20]\nresyncInterval: 1h30m\n",
        enable_ipv6=False,
    )
    assert [str(c) for c in config.non_masquerade_cidrs] == ["10.8.0.0/14", "10.0.0.0/20"]
    assert config.resync_interval == 5400.0
    assert config.cidr_limit == 64


def test_json_document_and_case_insensitive_keys() -> None:
    config = parse_config(
        '{"NonMasqueradeCIDRs": ["fd00::/48"], "masqLinkLocal": true}', enable_ipv6=True
    )
    assert config.non_masquerade_cidrs == (Prefix.parse("fd00::/48"),)
    assert config.masq_link_local is True


def test_unknown_key_is_a_warning() -> None:
    config = parse_config("bogus: 1\n", enable_ipv6=False)
    assert config == default_config()
    assert config.warnings == ("config: ignoring unknown key 'bogus'",)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            "nonMasqueradeCIDRs: [10.0.0.1/8]", "'10.0.0.1/8' has host bits set", id="host-bits"
        ),
        pytest.param(
            "nonMasqueradeCIDRs: [10.0.0.0/33]", "'10.0.0.0/33' is not a CIDR", id="bad-prefix"
        ),
        pytest.param(
            'nonMasqueradeCIDRs: ["10.0.0.0/8 -j ACCEPT"]', "is not a CIDR", id="smuggled-args"
        ),
        pytest.param('nonMasqueradeCIDRs: ["10.0.0.0/8\\n-A X"]', "is not a CIDR", id="newline"),
        pytest.param(
            "nonMasqueradeCIDRs: [fd00::/48]", "without --enable-ipv6", id="ipv6-disabled"
        ),
        pytest.param(
            "nonMasqueradeCIDRs: 10.0.0.0/8", "nonMasqueradeCIDRs must be a list", id="not-a-list"
        ),
        pytest.param(
            "nonMasqueradeCIDRs: [8]", "nonMasqueradeCIDRs[0] must be a string", id="not-a-string"
        ),
        pytest.param("cidrLimit: 2", "has 3 CIDRs, more than cidrLimit 2", id="over-limit"),
        pytest.param("cidrLimit: yes", "cidrLimit must be an integer", id="bool-limit"),
        pytest.param("masqLinkLocal: 1", "masqLinkLocal must be true or false", id="int-bool"),
        pytest.param("resyncInterval: 0s", "resyncInterval must be positive", id="zero-resync"),
        pytest.param("resyncInterval: 60", "resyncInterval must be a string", id="bare-number"),
        pytest.param("resyncInterval: soon", "is not a duration", id="bad-duration"),
        pytest.param(
            "resyncInterval: \u0661\u0660s", "is not a duration", id="duration-arabic-digits"
        ),
        pytest.param(
            "resyncInterval: \uff11\uff10s", "is not a duration", id="duration-wide-digits"
        ),
        pytest.param(
            "resyncInterval: 9999999999h", "is not a duration", id="duration-overflows-go"
        ),
        pytest.param("a: " + "[" * 100_000, "nested too deeply", id="deep-yaml"),
        pytest.param(
            '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply", id="deep-json"
        ),
        pytest.param("cidrLimit: " + "9" * 5000, "not a usable document", id="huge-integer"),
        pytest.param("", "empty config document", id="empty"),
        pytest.param("nonMasqueradeCIDRs: [", "not valid JSON/YAML", id="truncated"),
        pytest.param("- a\n- b\n", "must be a mapping", id="list-document"),
    ],
)
def test_rejections_name_the_value(document: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        parse_config(document, enable_ipv6=False, source="/etc/config/ip-masq-agent")
    text = str(caught.value)
    assert message in text
    assert text.startswith("/etc/config/ip-masq-agent: ")
    assert "\n" not in text


EXEMPTING_EVERYTHING = [
    pytest.param(
        "nonMasqueradeCIDRs: [10.0.0.0/8, 0.0.0.0/0]",
        "nonMasqueradeCIDRs contains 0.0.0.0/0, which stops all pod egress from being masqueraded",
        id="default-route",
    ),
    pytest.param(
        "nonMasqueradeCIDRs: [128.0.0.0/1, 0.0.0.0/2, 64.0.0.0/2, 10.0.0.0/8]",
        "nonMasqueradeCIDRs entries 0.0.0.0/2, 64.0.0.0/2, 128.0.0.0/1 merge into 0.0.0.0/0",
        id="default-route-in-pieces",
    ),
]


@pytest.mark.parametrize(("document", "message"), EXEMPTING_EVERYTHING)
def test_exempting_everything_is_applied_as_upstream_with_a_warning(
    document: str, message: str
) -> None:
    config = parse_config(document, enable_ipv6=False, source="/etc/config/ip-masq-agent")
    assert [w for w in config.warnings if message in w] != []
    assert (
        "0.0.0.0/0" in {str(c) for c in config.non_masquerade_cidrs}
        or len(config.non_masquerade_cidrs) == 4
    )


@pytest.mark.parametrize(("document", "message"), EXEMPTING_EVERYTHING)
def test_exempting_everything_is_refused_when_asked(document: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            document,
            enable_ipv6=False,
            source="/etc/config/ip-masq-agent",
            refuse_exempting_everything=True,
        )
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_document_larger_than_a_config_map_is_refused_before_parsing() -> None:
    line = "  - 10.0.0.0/8\n"
    text = "nonMasqueradeCIDRs:\n" + line * (5_000_000 // len(line))
    with pytest.raises(ConfigError, match=r"^config: 5000\d+ bytes, more than a ConfigMap"):
        parse_config(text, enable_ipv6=False)


@pytest.mark.parametrize(
    "key", ["forceMasqueradeCIDRs", "ForceMasqueradeCidrs", "FORCEMASQUERADECIDRS"]
)
def test_force_masquerade_key_in_any_case_spelling(key: str) -> None:
    config = parse_config(
        f"nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\n{key}: [10.1.0.0/16, fd00:1::/32]\n",
        enable_ipv6=True,
    )
    assert config.force_masquerade_cidrs == (
        Prefix.parse("10.1.0.0/16"),
        Prefix.parse("fd00:1::/32"),
    )
    assert config.warnings == ()


def test_force_masquerade_applies_to_the_default_ranges() -> None:
    config = parse_config("forceMasqueradeCIDRs: [10.1.0.0/16]\n", enable_ipv6=False)
    assert config.non_masquerade_cidrs == default_config().non_masquerade_cidrs
    assert [str(c) for c in config.force_masquerade_cidrs] == ["10.1.0.0/16"]


def test_empty_or_null_force_masquerade_is_no_exception() -> None:
    for value in ("[]", "null"):
        config = parse_config(f"forceMasqueradeCIDRs: {value}\n", enable_ipv6=False)
        assert config == default_config()


def test_an_exception_inside_no_kept_range_is_a_warning() -> None:
    config = parse_config(
        "nonMasqueradeCIDRs: [10.0.0.0/8]\nforceMasqueradeCIDRs: [10.1.0.0/16, 192.0.2.0/24]\n",
        enable_ipv6=False,
    )
    assert config.warnings == (
        "config: forceMasqueradeCIDRs[1] 192.0.2.0/24 lies inside no nonMasqueradeCIDRs entry,"
        " so it changes nothing (it is masqueraded anyway)",
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            "nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.0.0/16]\nforceMasqueradeCIDRs: [10.1.0.0/16]",
            "forceMasqueradeCIDRs[0]: 10.1.0.0/16 is also in nonMasqueradeCIDRs[1]; a CIDR is"
            " either kept or masqueraded, remove it from one list",
            id="in-both-lists",
        ),
        pytest.param(
            "forceMasqueradeCIDRs: [10.1.0.0/16, 172.16.0.0/12]",
            "forceMasqueradeCIDRs[1]: 172.16.0.0/12 is also in the default nonMasqueradeCIDRs",
            id="in-both-with-defaults",
        ),
        pytest.param(
            "forceMasqueradeCIDRs: [10.1.0.1/16]",
            "forceMasqueradeCIDRs[0]: '10.1.0.1/16' has host bits set",
            id="exception-host-bits",
        ),
        pytest.param(
            "forceMasqueradeCIDRs: ['10.1.0.0/16 -j ACCEPT']",
            "forceMasqueradeCIDRs[0]: '10.1.0.0/16 -j ACCEPT' is not a CIDR",
            id="exception-smuggled-args",
        ),
        pytest.param(
            "forceMasqueradeCIDRs: [fd00::/48]",
            "forceMasqueradeCIDRs[0]: 'fd00::/48' is IPv6 but the agent runs without --enable-ipv6",
            id="exception-ipv6-disabled",
        ),
        pytest.param(
            "forceMasqueradeCIDRs: 10.1.0.0/16",
            "forceMasqueradeCIDRs must be a list",
            id="exception-not-a-list",
        ),
        pytest.param(
            "forceMasqueradeCIDRs: [[10.1.0.0/16]]",
            "forceMasqueradeCIDRs[0] must be a string",
            id="exception-not-a-string",
        ),
        pytest.param(
            "cidrLimit: 4\nforceMasqueradeCIDRs: [10.1.0.0/16, 10.2.0.0/16]",
            "nonMasqueradeCIDRs and forceMasqueradeCIDRs have 3 + 2 CIDRs, more than cidrLimit 4",
            id="exceptions-count-toward-the-limit",
        ),
    ],
)
def test_force_masquerade_rejections_name_the_value(document: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, enable_ipv6=False, source="/etc/config/ip-masq-agent")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"/etc/config/ip-masq-agent: {message}")


def test_exactly_at_the_limit_with_exceptions_is_accepted() -> None:
    config = parse_config(
        "cidrLimit: 5\nforceMasqueradeCIDRs: [10.1.0.0/16, 10.2.0.0/16]", enable_ipv6=False
    )
    assert len(config.non_masquerade_cidrs) + len(config.force_masquerade_cidrs) == 5


def _scattered_host_exceptions(count: int) -> str:
    """`count` IPv6 /128 exceptions inside fd00::/8, each in its own /32: ~110 CIDRs each."""
    excepted = ", ".join(f"'fd{i % 256:02x}:{i:x}::{i:x}/128'" for i in range(1, count + 1))
    return (
        "nonMasqueradeCIDRs: ['fd00::/8']\n"
        f"forceMasqueradeCIDRs: [{excepted}]\ncidrLimit: {count + 100}\n"
    )


@pytest.mark.parametrize("count", [200, 10_000])
def test_exceptions_expanding_past_the_agents_limit_are_refused_in_one_line(count: int) -> None:
    # 200 exceptions in a 6 KB document plan ~22,000 rules; 10,000 plan over a million.
    with pytest.raises(ConfigError) as caught:
        parse_config(_scattered_host_exceptions(count), enable_ipv6=True, source="cm")
    text = str(caught.value)
    assert "\n" not in text
    match = re.fullmatch(
        rf"cm: forceMasqueradeCIDRs: its {count} exceptions split nonMasqueradeCIDRs into"
        rf" (\d+) CIDRs \(one rule each\), more than the agent's limit of {MAX_PLANNED_CIDRS:,}"
        " on backend auto \\(what fits its memory limit\\); use fewer or wider exceptions, or use"
        " the nftables backend \\(up to 50,000\\) or merge ranges into wider ones",
        text,
    )
    assert match is not None, text
    assert int(match.group(1)) > MAX_PLANNED_CIDRS


def test_exceptions_expanding_to_the_limit_are_accepted() -> None:
    config = parse_config(_scattered_host_exceptions(20), enable_ipv6=True)
    planned = plan_rules(config, chain="C", enable_ipv6=True, masquerade=Masquerade())
    assert 20 * 100 < len(planned.families[1].non_masquerade) - 1 <= MAX_PLANNED_CIDRS


def _many(count: int) -> str:
    cidrs = ", ".join(f"'fd00:{i:x}::/32'" for i in range(count))
    return f"nonMasqueradeCIDRs: [{cidrs}]\ncidrLimit: {count}\n"


@pytest.mark.parametrize(
    ("backend", "limit", "what_to_do"),
    [
        pytest.param(
            backend,
            MAX_PLANNED_CIDRS,
            "use the nftables backend (up to 50,000) or merge ranges into wider ones",
            id=backend,
        )
        for backend in ("auto", "iptables", "iptables-nft", "iptables-legacy")
    ]
    + [
        pytest.param(
            "nftables", MAX_PLANNED_CIDRS_NFTABLES, "merge ranges into wider ones", id="nftables"
        )
    ],
)
def test_more_cidrs_than_the_agent_holds_are_refused_whatever_cidr_limit_says(
    backend: str, limit: int, what_to_do: str
) -> None:
    assert limit_for(backend) == limit
    parsed = parse_config(_many(limit), enable_ipv6=True, backend=backend)
    assert len(parsed.non_masquerade_cidrs) == limit
    with pytest.raises(ConfigError) as caught:
        parse_config(_many(limit + 1), enable_ipv6=True, source="cm", backend=backend)
    assert str(caught.value) == (
        f"cm: nonMasqueradeCIDRs has {limit + 1} CIDRs, more than the agent's limit"
        f" of {limit:,} on backend {backend} (what fits its memory limit); {what_to_do}"
    )
