"""Golden iptables-restore payloads (compared whole) and invariants of the renderer."""

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.backends.iptables import IptablesBackend
from ip_masq_agent.backends.registry import default_backend_registry
from ip_masq_agent.cli import main
from ip_masq_agent.config import default_config, parse_config
from ip_masq_agent.iptables_payload import (
    MASQ_COMMENT,
    chain_rules,
    format_probability,
    jump_rule_line,
    render_chain_payload,
)
from ip_masq_agent.iptables_rules import parse_rule
from ip_masq_agent.rules import Masquerade, PortRange, plan_rules

CHAIN = "IP-MASQ-AGENT"
NM = (
    '-A IP-MASQ-AGENT -m comment --comment "ip-masq-agent: local traffic is not subject to'
    ' MASQUERADE"'
)
MQ = (
    '-A IP-MASQ-AGENT -m comment --comment "ip-masq-agent: outbound traffic is subject to'
    ' MASQUERADE (must be last in chain)" -j MASQUERADE'
)

DEFAULTS = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d 169.254.0.0/16 -j RETURN
{NM} -d 10.0.0.0/8 -j RETURN
{NM} -d 172.16.0.0/12 -j RETURN
{NM} -d 192.168.0.0/16 -j RETURN
{MQ} --random-fully
COMMIT
"""

RESERVED = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d 169.254.0.0/16 -j RETURN
{NM} -d 10.0.0.0/8 -j RETURN
{NM} -d 172.16.0.0/12 -j RETURN
{NM} -d 192.168.0.0/16 -j RETURN
{NM} -d 100.64.0.0/10 -j RETURN
{NM} -d 192.0.0.0/24 -j RETURN
{NM} -d 192.0.2.0/24 -j RETURN
{NM} -d 192.88.99.0/24 -j RETURN
{NM} -d 198.18.0.0/15 -j RETURN
{NM} -d 198.51.100.0/24 -j RETURN
{NM} -d 203.0.113.0/24 -j RETURN
{NM} -d 240.0.0.0/4 -j RETURN
{MQ} --random-fully
COMMIT
"""

LINK_LOCAL_MASQUERADED = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d 10.8.0.0/14 -j RETURN
{MQ} --random-fully
COMMIT
"""

IPV6 = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d fe80::/10 -j RETURN
{NM} -d fd00:10::/64 -j RETURN
{MQ} --random-fully
COMMIT
"""

IPV6_LINK_LOCAL_MASQUERADED = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d fd00:10::/64 -j RETURN
{MQ} --random-fully
COMMIT
"""

NO_RANDOM_FULLY = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d 169.254.0.0/16 -j RETURN
{NM} -d 10.0.0.0/8 -j RETURN
{NM} -d 172.16.0.0/12 -j RETURN
{NM} -d 192.168.0.0/16 -j RETURN
{MQ}
COMMIT
"""

P = "-m statistic --mode random --probability 0.469292562840114"
TO_PORTS = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d 169.254.0.0/16 -j RETURN
{NM} -d 10.0.0.0/8 -j RETURN
{NM} -d 172.16.0.0/12 -j RETURN
{NM} -d 192.168.0.0/16 -j RETURN
{MQ} --random-fully -p tcp {P} --to-ports 1024-29999
{MQ} --random-fully -p tcp --to-ports 32768-65535
{MQ} --random-fully -p udp {P} --to-ports 1024-29999
{MQ} --random-fully -p udp --to-ports 32768-65535
{MQ} --random-fully -p sctp {P} --to-ports 1024-29999
{MQ} --random-fully -p sctp --to-ports 32768-65535
{MQ} --random-fully
COMMIT
"""

TWO_PORTS = "\n".join(
    [
        "*nat",
        ":IP-MASQ-AGENT - [0:0]",
        f"{NM} -d 169.254.0.0/16 -j RETURN",
        *(
            line
            for proto in ("tcp", "udp", "sctp")
            for line in (
                f"{MQ} -p {proto} -m statistic --mode random --probability 0.5 --to-ports 80",
                f"{MQ} -p {proto} --to-ports 443",
            )
        ),
        MQ,
        "COMMIT\n",
    ]
)

# The overlapping lists of upstream's PR #68 review: disjoint RETURNs in address order.
FORCE_CONFIG = (
    "nonMasqueradeCIDRs: [10.0.0.0/8, 10.0.0.0/20, 172.16.0.0/12]\n"
    "forceMasqueradeCIDRs: [10.0.0.0/16, 10.0.0.0/24]\n"
)
FORCE = "\n".join(
    [
        "*nat",
        ":IP-MASQ-AGENT - [0:0]",
        f"{NM} -d 169.254.0.0/16 -j RETURN",
        *(
            f"{NM} -d {cidr} -j RETURN"
            for cidr in (
                "10.0.1.0/24",
                "10.0.2.0/23",
                "10.0.4.0/22",
                "10.0.8.0/21",
                "10.1.0.0/16",
                "10.2.0.0/15",
                "10.4.0.0/14",
                "10.8.0.0/13",
                "10.16.0.0/12",
                "10.32.0.0/11",
                "10.64.0.0/10",
                "10.128.0.0/9",
                "172.16.0.0/12",
            )
        ),
        f"{MQ} --random-fully",
        "COMMIT\n",
    ]
)
FORCE_IPV6 = f"""*nat
:IP-MASQ-AGENT - [0:0]
{NM} -d fd00::/32 -j RETURN
{NM} -d fd00:1:5::/48 -j RETURN
{NM} -d fd00:2::/31 -j RETURN
{MQ} --random-fully
COMMIT
"""

V6_CONFIG = "nonMasqueradeCIDRs: [fd00:10::/64]\n"
PORTS = (PortRange(1024, 29999), PortRange(32768, 65535))


GOLDENS = pytest.mark.parametrize(
    ("document", "reserved", "family", "masquerade", "supported", "expected"),
    [
        pytest.param(None, False, "ipv4", Masquerade(), True, DEFAULTS, id="defaults"),
        pytest.param(None, True, "ipv4", Masquerade(), True, RESERVED, id="reserved-ranges"),
        pytest.param(
            "nonMasqueradeCIDRs: [10.8.0.0/14]\nmasqLinkLocal: true\n",
            False,
            "ipv4",
            Masquerade(),
            True,
            LINK_LOCAL_MASQUERADED,
            id="link-local-masqueraded",
        ),
        pytest.param(V6_CONFIG, False, "ipv6", Masquerade(), True, IPV6, id="ipv6"),
        pytest.param(
            V6_CONFIG + "masqLinkLocalIPv6: true\n",
            False,
            "ipv6",
            Masquerade(),
            True,
            IPV6_LINK_LOCAL_MASQUERADED,
            id="ipv6-link-local-masqueraded",
        ),
        pytest.param(
            None, False, "ipv4", Masquerade(random_fully=False), True, NO_RANDOM_FULLY, id="rf-off"
        ),
        pytest.param(
            None, False, "ipv4", Masquerade(), False, NO_RANDOM_FULLY, id="rf-unsupported"
        ),
        pytest.param(
            None, False, "ipv4", Masquerade(to_ports=PORTS), True, TO_PORTS, id="to-ports"
        ),
        pytest.param(
            "masqLinkLocal: true\nnonMasqueradeCIDRs: []\n",
            False,
            "ipv4",
            Masquerade(random_fully=False, to_ports=(PortRange(80, 80), PortRange(443, 443))),
            True,
            TWO_PORTS.replace(f"{NM} -d 169.254.0.0/16 -j RETURN\n", ""),
            id="single-ports",
        ),
        pytest.param(FORCE_CONFIG, False, "ipv4", Masquerade(), True, FORCE, id="force-masq"),
        pytest.param(
            "nonMasqueradeCIDRs: [fd00::/30, fd00:1:5::/48, 10.0.0.0/8]\n"
            "forceMasqueradeCIDRs: [fd00:1::/32]\nmasqLinkLocalIPv6: true\n",
            False,
            "ipv6",
            Masquerade(),
            True,
            FORCE_IPV6,
            id="force-masq-ipv6",
        ),
    ],
)


@GOLDENS
def test_golden(  # noqa: PLR0917 - one positional per table column
    document: str | None,
    reserved: bool,
    family: str,
    masquerade: Masquerade,
    supported: bool,
    expected: str,
) -> None:
    enable_ipv6 = family == "ipv6"
    config = (
        default_config(nomasq_all_reserved_ranges=reserved)
        if document is None
        else parse_config(document, enable_ipv6=enable_ipv6)
    )
    desired = plan_rules(config, chain=CHAIN, enable_ipv6=enable_ipv6, masquerade=masquerade)
    rules = desired.family("ipv6" if enable_ipv6 else "ipv4")
    assert rules is not None
    random_fully = masquerade.random_fully and supported
    assert render_chain_payload(rules, chain=CHAIN, random_fully=random_fully) == expected


@GOLDENS
def test_cli_render_prints_the_golden(  # noqa: PLR0917 - one positional per table column
    document: str | None,
    reserved: bool,
    family: str,
    masquerade: Masquerade,
    supported: bool,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`ip-masq-agent render` itself prints upstream's payload, byte for byte."""
    config = tmp_path / "config"
    if document is not None:
        config.write_text(document)
    argv = ["render", f"--config={config}", "--backend=iptables"]
    argv += ["--nomasq-all-reserved-ranges"] if reserved else []
    argv += ["--enable-ipv6", "--family=ipv6"] if family == "ipv6" else []
    argv += [] if masquerade.random_fully else ["--random-fully=false"]
    if masquerade.to_ports:
        spans = (
            f"{r.first}" if r.size == 1 else f"{r.first}-{r.last}" for r in masquerade.to_ports
        )
        argv.append(f"--to-ports={','.join(spans)}")
    # The iptables version the backend would ask the host for is given instead: no tool runs.
    registry = default_backend_registry()
    registry.register(
        "iptables",
        lambda settings: IptablesBackend(
            flavor="iptables",
            chain=settings.chain,
            families=settings.families,
            run=settings.run,
            random_fully_supported=supported,
        ),
    )
    assert main(argv, backends=registry) == 0
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("chain", ["IP-MASQ-AGENT", "IP-MASQ"])
def test_jump_rule_is_upstreams_and_names_the_chain(chain: str) -> None:
    # GKE runs upstream with --masq-chain=IP-MASQ: its comment says IP-MASQ, not the default.
    assert jump_rule_line(chain) == (
        '-A POSTROUTING -m comment --comment "ip-masq-agent: ensure nat POSTROUTING directs all'
        f' non-LOCAL destination traffic to our custom {chain} chain"'
        f" -m addrtype ! --dst-type LOCAL -j {chain}"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(28976 / 61744, "0.469292562840114", id="upstream-example"),
        pytest.param(0.5, "0.5", id="half"),
        pytest.param(1 / 3, "0.3333333333333333", id="third"),
        pytest.param(1e-05, "0.00001", id="no-exponent"),
        pytest.param(1 / 64512, "0.000015500992063492063", id="tiny"),
    ],
)
def test_probability_is_shortest_positional(value: float, text: str) -> None:
    assert format_probability(value) == text
    assert float(text) == value


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=1 / 65535, max_value=1.0, exclude_max=True))
def test_probability_round_trips_without_exponent(value: float) -> None:
    text = format_probability(value)
    assert float(text) == value
    assert "e" not in text.lower()
    assert len(text.rstrip("0")) == len(text)  # shortest: no trailing zeros


_v4 = st.builds(
    lambda address, prefix: ipaddress.ip_network(f"{address}/{prefix}", strict=False),
    st.ip_addresses(v=4),
    st.integers(0, 32),
)
_v6 = st.builds(
    lambda address, prefix: ipaddress.ip_network(f"{address}/{prefix}", strict=False),
    st.ip_addresses(v=6),
    st.integers(0, 128),
)


@settings(max_examples=40, deadline=None)
@given(
    cidrs=st.lists(st.one_of(_v4, _v6), max_size=12),
    link_local=st.booleans(),
    ports=st.lists(st.integers(1, 65535), max_size=4),
)
def test_masquerade_is_last_and_only_cidrs_reach_the_payload(
    cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network], link_local: bool, ports: list[int]
) -> None:
    document = {
        "nonMasqueradeCIDRs": [c.with_prefixlen for c in cidrs],
        "masqLinkLocal": link_local,
    }
    config = parse_config(json.dumps(document), enable_ipv6=True)
    to_ports = tuple(PortRange(p, p) for p in sorted(set(ports)))
    desired = plan_rules(
        config, chain=CHAIN, enable_ipv6=True, masquerade=Masquerade(to_ports=to_ports)
    )
    for rules in desired.families:
        payload = render_chain_payload(rules, chain=CHAIN, random_fully=True)
        lines = payload.splitlines()
        assert lines[:2] == ["*nat", f":{CHAIN} - [0:0]"]
        assert lines[-1] == "COMMIT"
        assert lines[-2] == f"{MQ} --random-fully"
        body = lines[2:-1]
        returns = [line for line in body if line.endswith("-j RETURN")]
        # Every RETURN line names exactly one validated CIDR of this family, in plan order.
        destinations = [
            line.removeprefix(NM + " -d ").removesuffix(" -j RETURN") for line in returns
        ]
        assert destinations == [str(n) for n in rules.non_masquerade]
        # MASQUERADE lines (the port-restricted ones and the catch-all) all come after them.
        assert all(f'"{MASQ_COMMENT}"' in line for line in body[len(returns) :])
        assert len(body) == len(returns) + 1 + 3 * len(to_ports)


@pytest.mark.parametrize(
    "exceptions",
    [
        pytest.param("forceMasqueradeCIDRs: []\n", id="empty-list"),
        pytest.param("forceMasqueradeCIDRs: null\n", id="null"),
        pytest.param("forceMasqueradeCIDRs: [fd00:1::/32]\n", id="other-family-only"),
    ],
)
def test_without_exceptions_in_a_family_its_payload_stays_upstreams(exceptions: str) -> None:
    kept = "nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.0.0/16, 172.16.0.0/12, fd00::/8]\n"
    plain, excepted = (
        plan_rules(
            parse_config(text, enable_ipv6=True),
            chain=CHAIN,
            enable_ipv6=True,
            masquerade=Masquerade(),
        ).family("ipv4")
        for text in (kept, kept + exceptions)
    )
    assert plain is not None and excepted is not None
    # Overlapping 10.1.0.0/16 stays listed as written, as upstream lists it.
    assert render_chain_payload(excepted, chain=CHAIN, random_fully=True) == render_chain_payload(
        plain, chain=CHAIN, random_fully=True
    )
    assert "-d 10.1.0.0/16 -j RETURN" in render_chain_payload(plain, chain=CHAIN, random_fully=True)


@settings(max_examples=300, deadline=None)
@given(
    network=st.one_of(
        _v4,
        _v6,
        st.builds(  # IPv4-mapped: the tools print these their own way
            lambda tail, length: ipaddress.IPv6Network(
                ((0xFFFF << 32 | tail) >> (128 - length) << (128 - length), length)
            ),
            st.integers(0, (1 << 32) - 1),
            st.integers(96, 128),
        ),
    )
)
def test_our_destinations_need_no_canonicalising(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    # The expected view trusts a planned CIDR's text as canonical (`canonical_args`): each
    # rule's fingerprint must be the one of the same line parsed as a listing would be.
    document = {"nonMasqueradeCIDRs": [network.with_prefixlen]}
    desired = plan_rules(
        parse_config(json.dumps(document), enable_ipv6=True),
        chain="IP-MASQ-AGENT",
        enable_ipv6=True,
        masquerade=Masquerade(),
    )
    for rules in desired.families:
        for rule in chain_rules(rules, chain="IP-MASQ-AGENT", random_fully=True):
            assert rule.canonical() == parse_rule(rule.appended()).canonical()
