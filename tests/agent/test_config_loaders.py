"""libyaml and pure-Python YAML give the agent exactly the same configs and the same errors."""

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ip_masq_agent.config import AgentConfig, ConfigError, parse_config
from ip_masq_agent.config_yaml import LibYamlLoader, PureYamlLoader, load_yaml, yaml_loader_for
from tests.unavailable import cannot_run_here


@pytest.fixture(autouse=True, scope="module")
def _libyaml_present() -> Iterator[None]:
    # Debian's python3-yaml and PyPI's wheels both carry libyaml: only a source build lacks it.
    if LibYamlLoader is None:
        cannot_run_here("PyYAML built without libyaml")
    yield


DOCUMENTS = [
    "nonMasqueradeCIDRs: [10.0.0.0/8, 172.16.0.0/12]\nresyncInterval: 1h30m\n",
    "nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 'fd00::/8'\ncidrLimit: 2\n",
    "NonMasqueradeCidrs: [10.0.0.0/8]\nMASQLINKLOCAL: true\n",
    "masqLinkLocal: yes\nmasqLinkLocalIPv6: On\n",
    "masqLinkLocal: y\nmasqLinkLocalIPv6: N\n",
    "masqLinkLocal: off\n",
    "masqLinkLocal: 'true'\n",
    "masqLinkLocal: 1\n",
    "cidrLimit: 0x40\n",
    "cidrLimit: 0o100\n",
    "cidrLimit: 1_000\n",
    "cidrLimit: 1.0\n",
    "cidrLimit: ~\n",
    "nonMasqueradeCIDRs: null\n",
    "nonMasqueradeCIDRs:\n",
    "nonMasqueradeCIDRs: []\n",
    "nonMasqueradeCIDRs: [10]\n",
    "nonMasqueradeCIDRs: [10.0.0.1/8]\n",
    "nonMasqueradeCIDRs: 10.0.0.0/8\n",
    "nonMasqueradeCIDRs: [10.0.0.0/8]\nNONMASQUERADECIDRS: [11.0.0.0/8]\n",
    "masqLinkLocal: true\nmasqLinkLocal: false\n",
    "resyncInterval: 60\n",
    "resyncInterval: 2001-12-14\n",
    "---\nnonMasqueradeCIDRs: [10.0.0.0/8]\n...\n",
    "nonMasqueradeCIDRs: [10.0.0.0/8]\n---\ncidrLimit: 1\n",
    "%YAML 1.1\n---\nmasqLinkLocal: yes\n",
    "%TAG ! tag:yaml.org,2002:\n---\nmasqLinkLocal: !bool yes\n",
    "base: &b [10.0.0.0/8]\nnonMasqueradeCIDRs: *b\n",
    "masqLinkLocal: !!str true\n",
    "masqLinkLocal: !!python/name:os.system\n",
    "? [a, b]\n: 1\n",
    "nonMasqueradeCIDRs: [10.0.0.0/8\n",
    "nonMasqueradeCIDRs:\n\t- 10.0.0.0/8\n",
    "a: b: c\n",
    "'unterminated\n",
    "# only a comment\n",
    "",
    "- 10.0.0.0/8\n",
    "hello\n",
    "\ufeffmasqLinkLocal: true\n",
    "masqLinkLocal: true\x85\n",
    "masqLinkLocal: tr\x00ue\n",
    "masqLinkLocal: \ud800\n",
    "masqLinkLocal: \U0001f600\n",
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "a: " + "[" * 100_000,
    "- " * 3000 + "x\n",
    "nonMasqueradeCIDRs:\n" + "".join(f"  - 11.{i // 256}.{i % 256}.0/24\n" for i in range(3000)),
]


def _outcome(text: str, loader: type | None) -> AgentConfig | str:
    try:
        return parse_config(text, enable_ipv6=True, source="f", yaml_loader=loader)
    except ConfigError as err:
        return str(err)


@pytest.mark.parametrize("text", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_the_agent_reads_every_document_as_the_pure_loader_does(text: str) -> None:
    reference = _outcome(text, PureYamlLoader)
    assert _outcome(text, None) == reference
    if isinstance(reference, AgentConfig):
        assert _outcome(text, None).warnings == reference.warnings  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        DOCUMENTS[-1],
        "nonMasqueradeCIDRs: [10.0.0.0/8, 'fd00::/8'] # VPC\ncidrLimit: 2\n",
        '{"nonMasqueradeCIDRs": ["10.0.0.0/8"]}',
    ],
    ids=["block-list", "flow-list", "json-as-yaml"],
)
def test_configs_as_written_are_read_by_libyaml(text: str) -> None:
    assert yaml_loader_for(text) is LibYamlLoader
    assert load_yaml(text) == load_yaml(text, PureYamlLoader)


# Everything a config holds, and every character that marks a YAML edge case.
_ANY_TEXT = st.text(
    alphabet=st.sampled_from([*"abyYnN01.:/-[]{},'\"#&*!|>%@` \t\n\r?~", "\x85", "\ufeff"]),
    max_size=40,
)
# Only the characters libyaml is trusted with: each of these documents takes the fast path
# unless the loaders' event streams say otherwise.
_CONFIG_TEXT = st.text(alphabet=st.sampled_from(list("abyYnN01.:/-_[]{},'\"# \n")), max_size=40)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_ANY_TEXT, _CONFIG_TEXT))
def test_random_text_loads_as_the_pure_loader_loads_it(text: str) -> None:
    def load(loader: type | None) -> object:
        try:
            return ("ok", load_yaml(text, loader))
        except Exception as err:  # any outcome must match, errors included
            return ("error", type(err).__name__, str(err).splitlines()[:1])

    assert load(None) == load(PureYamlLoader)
