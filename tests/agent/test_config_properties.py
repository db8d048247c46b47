"""Property tests: any YAML/JSON document gives a valid config or a one-line ConfigError."""

import ipaddress
import json

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.config import ConfigError, parse_config

KEYS = [
    "nonMasqueradeCIDRs",
    "forceMasqueradeCIDRs",
    "cidrLimit",
    "masqLinkLocal",
    "masqLinkLocalIPv6",
    "resyncInterval",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["10.0.0.0/8", "10.0.0.1/8", "fd00::/64", "1m", "-1s", "0", "a\n-j ACCEPT"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_documents = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), _values, max_size=6)


def _check(text: str, enable_ipv6: bool) -> None:
    try:
        config = parse_config(text, enable_ipv6=enable_ipv6)
    except ConfigError as err:
        assert str(err) and "\n" not in str(err)
        return
    kept, forced = config.non_masquerade_cidrs, config.force_masquerade_cidrs
    assert len(kept) + len(forced) <= config.cidr_limit
    assert not set(kept) & set(forced)
    assert config.resync_interval > 0
    for network in kept + forced:
        # Strict: no host bits, and the canonical text is the stdlib's.
        assert str(network) == ipaddress.ip_network(str(network)).with_prefixlen
        assert enable_ipv6 or network.version == 4


@settings(max_examples=150, deadline=None)
@given(document=_documents, enable_ipv6=st.booleans(), as_json=st.booleans())
def test_structured_documents_never_crash(
    document: dict[str, object], enable_ipv6: bool, as_json: bool
) -> None:
    text = json.dumps(document) if as_json else yaml.safe_dump(document)
    _check(text, enable_ipv6)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=80), enable_ipv6=st.booleans())
def test_arbitrary_text_never_crashes(text: str, enable_ipv6: bool) -> None:
    _check(text, enable_ipv6)
