"""CIDR derivation: table tests, every rejection, and merge properties."""

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulumi_ip_masq_agent.cidrs import CidrError, derive_non_masquerade_cidrs
from pulumi_ip_masq_agent.ranges import stack_range

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def derive(*cidrs: str, ipv6: bool = True, limit: int = 64) -> tuple[str, ...]:
    sources = [stack_range(f"key{i}", c) for i, c in enumerate(cidrs)]
    return derive_non_masquerade_cidrs(
        sources, ipv6_enabled=ipv6, cidr_limit=limit, ipv6_switch="ipv6UlaRange"
    )


@pytest.mark.parametrize(
    ("cidrs", "expected"),
    [
        pytest.param((), (), id="empty"),
        pytest.param(("10.0.0.0/8",), ("10.0.0.0/8",), id="single"),
        pytest.param(("10.0.0.0/8", "10.0.0.0/8"), ("10.0.0.0/8",), id="duplicate"),
        pytest.param(("10.1.0.0/16", "10.0.0.0/8"), ("10.0.0.0/8",), id="contained"),
        pytest.param(("10.0.0.0/9", "10.128.0.0/9"), ("10.0.0.0/8",), id="adjacent-halves"),
        pytest.param(
            ("10.0.1.0/24", "10.0.2.0/24"),
            ("10.0.1.0/24", "10.0.2.0/24"),
            id="adjacent-unalignable",
        ),
        pytest.param(
            ("fd20::/48", "192.168.0.0/16", "10.0.0.0/8"),
            ("10.0.0.0/8", "192.168.0.0/16", "fd20::/48"),
            id="ipv4-then-ipv6-sorted",
        ),
        pytest.param(("FD20:0:0::/48",), ("fd20::/48",), id="ipv6-canonical"),
        pytest.param(
            ("172.16.0.16/28", "172.16.0.0/28"), ("172.16.0.0/27",), id="control-plane-pair"
        ),
    ],
)
def test_derivation_table(cidrs: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert derive(*cidrs) == expected


@pytest.mark.parametrize(
    ("cidr", "ipv6", "message"),
    [
        pytest.param(
            "10.0.0.1/8",
            True,
            "key0: '10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)",
            id="host-bits",
        ),
        pytest.param(
            "fd20::1/48",
            True,
            "key0: 'fd20::1/48' has host bits set (the network is fd20::/48)",
            id="host-bits-v6",
        ),
        pytest.param(
            "10.0.0.0",
            True,
            "key0: '10.0.0.0' is not a CIDR (want e.g. 10.0.0.0/8)",
            id="no-prefix",
        ),
        pytest.param(
            "10/8", True, "key0: '10/8' is not a CIDR (want e.g. 10.0.0.0/8)", id="shorthand"
        ),
        pytest.param(
            "10.0.0.0/33",
            True,
            "key0: '10.0.0.0/33' is not a CIDR (want e.g. 10.0.0.0/8)",
            id="prefix-too-long",
        ),
        pytest.param(
            "banana", True, "key0: 'banana' is not a CIDR (want e.g. 10.0.0.0/8)", id="garbage"
        ),
        pytest.param(
            " 10.0.0.0/8",
            True,
            "key0: ' 10.0.0.0/8' is not a CIDR (want e.g. 10.0.0.0/8)",
            id="whitespace",
        ),
        pytest.param(
            "0.0.0.0/0",
            True,
            "key0: '0.0.0.0/0' would exempt every destination from masquerading",
            id="default-v4",
        ),
        pytest.param(
            "::/0",
            True,
            "key0: '::/0' would exempt every destination from masquerading",
            id="default-v6",
        ),
        pytest.param(
            "fd20::/48",
            False,
            "key0: 'fd20::/48' is IPv6 but the cluster is not dual-stack (ipv6UlaRange)",
            id="ipv6-single-stack",
        ),
    ],
)
def test_rejections_name_key_and_value(cidr: str, ipv6: bool, message: str) -> None:
    with pytest.raises(CidrError) as caught:
        derive(cidr, ipv6=ipv6)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("cidrs", "message"),
    [
        pytest.param(
            ("0.0.0.0/1", "128.0.0.0/1"),
            "key0, key1: '0.0.0.0/1', '128.0.0.0/1' merge into 0.0.0.0/0, which would exempt"
            " every destination from masquerading",
            id="halves-v4",
        ),
        pytest.param(
            ("10.0.0.0/8", "8000::/1", "::/1", "128.0.0.0/1"),
            "key2, key1: '::/1', '8000::/1' merge into ::/0, which would exempt every"
            " destination from masquerading",
            id="halves-v6",
        ),
        pytest.param(
            ("10.0.0.0/8", "0.0.0.0/2", "128.0.0.0/1", "64.0.0.0/2", "10.1.0.0/16"),
            "key1, key3, key2: '0.0.0.0/2', '64.0.0.0/2', '128.0.0.0/1' merge into 0.0.0.0/0,"
            " which would exempt every destination from masquerading",
            id="quarters-and-a-half-v4",
        ),
    ],
)
def test_ranges_merging_into_a_default_route_are_refused(
    cidrs: tuple[str, ...], message: str
) -> None:
    # Each range alone is fine; together they are the default route the parser refuses.
    with pytest.raises(CidrError) as caught:
        derive(*cidrs)
    assert str(caught.value) == message


def test_over_limit_says_how_many() -> None:
    with pytest.raises(
        CidrError, match=r"merge into 3 nonMasqueradeCIDRs, 1 more than cidr_limit 2"
    ):
        derive("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", limit=2)
    # Merging happens before the limit: four adjacent /10s are one CIDR.
    assert derive("10.0.0.0/10", "10.64.0.0/10", "10.128.0.0/10", "10.192.0.0/10", limit=1) == (
        "10.0.0.0/8",
    )


def networks(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    low = 8 if version == 4 else 16

    def build(value: int, prefix: int) -> str:
        net = ipaddress.ip_network((value, prefix), strict=False)
        return net.with_prefixlen

    # Prefixes of at least /8 (/16): a default route is a rejection, tested above.
    return st.builds(build, st.integers(0, 2**bits - 1), st.integers(low, bits))


any_networks = st.lists(st.one_of(networks(4), networks(6)), max_size=12)


def addresses(cidrs: list[str] | tuple[str, ...]) -> list[Network]:
    """The addresses of `cidrs` in the stdlib's canonical form: each family collapsed."""
    return collapsed([ipaddress.ip_network(c) for c in cidrs])


def collapsed(networks: list[Network]) -> list[Network]:
    """The stdlib's minimal cover, IPv4 then IPv6 (the oracle; the code uses PrefixSet)."""
    return [
        block
        for version in (4, 6)
        for block in ipaddress.collapse_addresses(  # type: ignore[type-var]
            n for n in networks if n.version == version
        )
    ]


@settings(max_examples=150, deadline=None)
@given(any_networks)
def test_no_address_lost_and_nothing_added(cidrs: list[str]) -> None:
    assert addresses(derive(*cidrs)) == addresses(cidrs)


@settings(max_examples=150, deadline=None)
@given(any_networks)
def test_minimal_sorted_and_family_ordered(cidrs: list[str]) -> None:
    result = [ipaddress.ip_network(c) for c in derive(*cidrs)]
    for a, b in itertools.pairwise(result):
        assert (a.version, int(a.network_address)) < (b.version, int(b.network_address))
        if a.version == b.version:
            assert a.broadcast_address < b.network_address, "entries overlap"  # type: ignore[operator]
            # Minimal: disjoint blocks merge only as the two halves of one parent, which sort
            # next to each other.
            if a.prefixlen == b.prefixlen and a.prefixlen > 0:
                assert a.supernet() != b.supernet(), f"{a} and {b} should be one CIDR"
    assert collapsed(result) == result


@settings(max_examples=100, deadline=None)
@given(any_networks, st.randoms(use_true_random=False))
def test_deterministic_and_idempotent(cidrs: list[str], rng: object) -> None:
    result = derive(*cidrs)
    shuffled = list(cidrs)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert derive(*shuffled) == result
    assert derive(*result) == result
