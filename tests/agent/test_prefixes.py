"""The one prefix type and prefix set, against the standard library's `ipaddress`."""

import ipaddress
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.intervals import Interval, aligned_block_count, aligned_blocks
from ip_masq_agent.prefixes import (
    BITS,
    Prefix,
    PrefixError,
    PrefixSet,
    address_text,
    planned_cidr_count,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _reference_parse(text: str) -> Network | None:
    """What the agent accepted before Prefix: the shape, then ipaddress, no host bits."""
    if not re.fullmatch(r"[0-9A-Fa-f.:]{2,45}/[0-9]{1,3}", text):
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if network.network_address != ipaddress.ip_address(text.split("/", maxsplit=1)[0]):
        return None
    return network


def _networks(version: int) -> st.SearchStrategy[Network]:
    bits = BITS[version]
    kind = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return st.builds(
        lambda address, length: kind((address >> (bits - length) << (bits - length), length)),
        st.integers(0, (1 << bits) - 1),
        st.integers(0, bits),
    )


ANY_NETWORK = st.one_of(_networks(4), _networks(6))


@settings(max_examples=300, deadline=None)
@given(network=ANY_NETWORK)
def test_parse_round_trips_the_canonical_text(network: Network) -> None:
    prefix = Prefix.parse(network.with_prefixlen)
    assert (prefix.version, prefix.first, prefix.length) == (
        network.version,
        int(network.network_address),
        network.prefixlen,
    )
    assert prefix.last == int(network.broadcast_address)
    assert str(prefix) == network.with_prefixlen


@pytest.mark.parametrize(
    "text",
    [
        "::ffff:1.2.3.4",  # IPv4-mapped: glibc's inet_ntop writes the tail dotted
        "::ffff:0.0.0.0",
        "::ffff:255.255.255.255",
        "::1.2.3.4",  # IPv4-compatible (deprecated): dotted too
        "::0.1.0.0",
        "::1",  # no IPv4 tail: the zero run is longer than six words
        "::",
        "::fffe:1.2.3.4",
        "64:ff9b::1.2.3.4",
        "1::ffff:1.2.3.4",
        "2001:db8::",
    ],
)
def test_ipv6_text_is_pythons_whatever_the_c_library_prints(text: str) -> None:
    address = ipaddress.IPv6Address(text)
    assert address_text(int(address), 6) == str(address)


@settings(max_examples=500, deadline=None)
@given(
    address=st.one_of(
        st.integers(0, (1 << 128) - 1),
        st.integers(0, (1 << 32) - 1).map(lambda tail: 0xFFFF << 32 | tail),  # mapped
        st.integers(0, (1 << 32) - 1),  # compatible, and the short zero runs around it
        st.integers(0, (1 << 64) - 1).map(lambda low: 0x20010DB8 << 96 | low),
    )
)
def test_ipv6_text_matches_ipaddress(address: int) -> None:
    assert address_text(address, 6) == str(ipaddress.IPv6Address(address))


@settings(max_examples=500, deadline=None)
@given(
    text=st.one_of(
        st.text(alphabet="0123456789abcdefABCDEF.:/ x%-", max_size=48),
        st.builds(
            lambda a, b, c, d, n: f"{a}.{b}.{c}.{d}/{n}",
            *[st.sampled_from(["0", "1", "01", "255", "256", "10", "008", ""])] * 4,
            st.sampled_from(["0", "8", "08", "32", "33", "008", "0008", ""]),
        ),
        ANY_NETWORK.map(lambda n: f"{n.network_address}/{n.prefixlen}"),
        ANY_NETWORK.map(lambda n: f"{n.broadcast_address}/{n.prefixlen}"),
    )
)
def test_parse_accepts_exactly_what_the_agent_accepted(text: str) -> None:
    reference = _reference_parse(text)
    if reference is None:
        with pytest.raises(PrefixError):
            Prefix.parse(text)
    else:
        assert str(Prefix.parse(text)) == reference.with_prefixlen


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("10.0.0.0", "'10.0.0.0' is not a CIDR (want e.g. 10.0.0.0/8)", id="no-length"),
        pytest.param("10.1/16", "'10.1/16' is not a CIDR (want e.g. 10.0.0.0/8)", id="shorthand"),
        pytest.param("10.0.0.0/33", "'10.0.0.0/33' is not a CIDR", id="too-long"),
        pytest.param("010.0.0.0/8", "'010.0.0.0/8' is not a CIDR", id="leading-zero"),
        pytest.param("10.0.0.0/8 -j X", "'10.0.0.0/8 -j X' is not a CIDR", id="injection"),
        pytest.param(
            "10.0.0.1/8", "'10.0.0.1/8' has host bits set (the network is 10.0.0.0/8)", id="host"
        ),
        pytest.param(
            "fd00::1/64", "'fd00::1/64' has host bits set (the network is fd00::/64)", id="host6"
        ),
    ],
)
def test_parse_names_the_bad_value(text: str, message: str) -> None:
    with pytest.raises(PrefixError) as raised:
        Prefix.parse(text)
    assert str(raised.value).startswith(message)


def test_parse_reads_cloud_api_ranges_dropping_host_bits() -> None:
    assert str(Prefix.parse("10.4.3.2/14", drop_host_bits=True)) == "10.4.0.0/14"
    assert Prefix.parse("10.0.0.0/08") == Prefix(4, 10 << 24, 8)  # a leading zero, as before


def test_order_is_family_then_address_then_wider_first() -> None:
    texts = ["fd00::/8", "10.0.0.0/16", "10.0.0.0/8", "9.0.0.0/8", "::/0"]
    assert [str(p) for p in sorted(map(Prefix.parse, texts))] == [
        "9.0.0.0/8",
        "10.0.0.0/8",
        "10.0.0.0/16",
        "::/0",
        "fd00::/8",
    ]


@settings(max_examples=200, deadline=None)
@given(a=ANY_NETWORK, b=ANY_NETWORK)
def test_contains_is_ipaddress_subnet_of(a: Network, b: Network) -> None:
    expected = a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]
    assert Prefix.parse(a.with_prefixlen).contains(Prefix.parse(b.with_prefixlen)) is expected


def _union(networks: list[Network], version: int) -> list[tuple[int, int]]:
    """The stdlib's collapse, adjacent blocks joined: the reference merge."""
    spans: list[tuple[int, int]] = []
    family = [n for n in networks if n.version == version]
    for n in ipaddress.collapse_addresses(family):  # type: ignore[type-var]
        first, last = int(n.network_address), int(n.broadcast_address)
        if spans and spans[-1][1] + 1 == first:
            spans[-1] = (spans[-1][0], last)
        else:
            spans.append((first, last))
    return spans


@settings(max_examples=300, deadline=None)
@given(networks=st.lists(ANY_NETWORK, max_size=12))
def test_merge_is_the_union(networks: list[Network]) -> None:
    prefixes = [Prefix.parse(n.with_prefixlen) for n in networks]
    merged = PrefixSet(prefixes)
    for version in BITS:
        intervals = merged.intervals(version)
        assert [tuple(i) for i in intervals] == _union(networks, version)
        for before, after in itertools.pairwise(intervals):
            assert before.last + 1 < after.first  # disjoint and never adjacent
    assert bool(merged) == bool(networks)


@settings(max_examples=300, deadline=None)
@given(networks=st.lists(ANY_NETWORK, max_size=12))
def test_cover_round_trips_with_the_fewest_prefixes(networks: list[Network]) -> None:
    merged = PrefixSet(Prefix.parse(n.with_prefixlen) for n in networks)
    prefixes = merged.prefixes()
    assert PrefixSet(prefixes) == merged
    assert list(prefixes) == sorted(prefixes)
    assert merged.cidrs() == tuple(map(str, prefixes))
    for version in BITS:
        family = [p for p in prefixes if p.version == version]
        expected = list(
            ipaddress.collapse_addresses(n for n in networks if n.version == version)  # type: ignore[type-var]
        )
        # The stdlib's collapse is the fewest CIDRs too: the same list.
        assert [str(p) for p in family] == [n.with_prefixlen for n in expected]
        assert sum(map(aligned_block_count, merged.intervals(version))) == len(family)


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from([4, 6]),
    first=st.integers(0, 2**128 - 1),
    span=st.one_of(st.integers(0, 4096), st.integers(0, 2**128 - 1)),
)
def test_cover_count_is_the_cover_length(version: int, first: int, span: int) -> None:
    top = (1 << BITS[version]) - 1
    first = first & top
    interval = Interval(first, min(first + span, top))
    blocks = [Prefix(version, *block) for block in aligned_blocks(interval, BITS[version])]
    assert blocks[0].first == interval.first and blocks[-1].last == interval.last
    for before, after in itertools.pairwise(blocks):
        assert before.last + 1 == after.first
    assert aligned_block_count(interval) == len(blocks)


@pytest.mark.parametrize(
    ("cidrs", "version", "elements"),
    [
        pytest.param(["10.0.0.0/8", "11.0.0.0/8"], 4, ["10.0.0.0/7"], id="adjacent-aligned"),
        pytest.param(["10.0.0.0/8", "12.0.0.0/8"], 4, ["10.0.0.0/8", "12.0.0.0/8"], id="apart"),
        pytest.param(["11.0.0.0/8", "12.0.0.0/8"], 4, ["11.0.0.0-12.255.255.255"], id="range"),
        pytest.param(["0.0.0.0/1", "128.0.0.0/1"], 4, ["0.0.0.0/0"], id="everything"),
        pytest.param(["10.0.0.1/32"], 4, ["10.0.0.1/32"], id="one-address"),
        pytest.param(["fd00::/64", "fd00:0:0:1::/64"], 6, ["fd00::/63"], id="ipv6"),
        pytest.param(["fd00::1/128", "fd00::2/127"], 6, ["fd00::1-fd00::3"], id="ipv6-range"),
    ],
)
def test_nft_elements(cidrs: list[str], version: int, elements: list[str]) -> None:
    assert PrefixSet(map(Prefix.parse, cidrs)).nft_elements(version) == elements


# Small families: every prefix lies inside 10.0.0.0/26 or fd00::/122, so every address of the
# universe can be asked (64 each), the rule spelt out by brute force.
_SMALL = {4: Prefix.parse("10.0.0.0/26"), 6: Prefix.parse("fd00::/122")}


def _small_prefixes(version: int) -> st.SearchStrategy[Prefix]:
    base, bits = _SMALL[version], BITS[version]
    return st.builds(
        lambda offset, length: Prefix(
            version, base.first + (offset >> (bits - length) << (bits - length)), length
        ),
        st.integers(0, 63),
        st.integers(bits - 6, bits),
    )


def _inside(address: int, prefix: Prefix) -> bool:
    return prefix.first <= address <= prefix.last


def _brute_keeps(address: int, kept: list[Prefix], excepted: list[Prefix]) -> bool:
    """The longest matching prefix of both lists decides; none matching: masquerade."""
    matches = [
        (p.length, keep)
        for keep, prefixes in ((True, kept), (False, excepted))
        for p in prefixes
        if _inside(address, p)
    ]
    return max(matches)[1] if matches else False


@st.composite
def _small_lists(draw: st.DrawFn) -> tuple[int, list[Prefix], list[Prefix]]:
    version = draw(st.sampled_from([4, 6]))
    kept = draw(st.lists(_small_prefixes(version), max_size=8))
    excepted = [p for p in draw(st.lists(_small_prefixes(version), max_size=8)) if p not in kept]
    return version, kept, excepted


@settings(max_examples=400, deadline=None)
@given(lists=_small_lists())
def test_non_masquerade_is_the_brute_force_longest_prefix(
    lists: tuple[int, list[Prefix], list[Prefix]],
) -> None:
    version, kept, excepted = lists
    decided = PrefixSet.non_masquerade(kept, excepted)
    base = _SMALL[version]
    for address in range(base.first - 1, base.last + 2):
        one = Prefix(version, address, BITS[version])
        assert decided.covers(one) == _brute_keeps(address, kept, excepted), hex(address)
    other = 6 if version == 4 else 4
    assert decided.intervals(other) == ()
    planned = planned_cidr_count(kept, excepted)
    assert planned == (len(decided.prefixes()) if excepted else len(kept))


@settings(max_examples=300, deadline=None)
@given(lists=_small_lists())
def test_difference_is_the_brute_force_difference(
    lists: tuple[int, list[Prefix], list[Prefix]],
) -> None:
    version, a, b = lists
    difference = PrefixSet(a) - PrefixSet(b)
    base = _SMALL[version]
    for address in range(base.first - 1, base.last + 2):
        one = Prefix(version, address, BITS[version])
        expected = any(_inside(address, p) for p in a) and not any(_inside(address, p) for p in b)
        assert difference.covers(one) is expected


def test_a_prefix_in_both_lists_has_no_answer() -> None:
    same = Prefix.parse("10.0.0.0/16")
    with pytest.raises(PrefixError, match=r"^10\.0\.0\.0/16 is both kept and excepted$"):
        PrefixSet.non_masquerade([same], [same])


def test_covers_family_is_a_default_route_however_spelt() -> None:
    assert PrefixSet([Prefix.parse("0.0.0.0/0")]).covers_family(4)
    halves = PrefixSet(map(Prefix.parse, ["0.0.0.0/1", "128.0.0.0/1", "::/0"]))
    assert halves.covers_family(4) and halves.covers_family(6)
    assert not PrefixSet([Prefix.parse("0.0.0.0/1")]).covers_family(4)
    assert not PrefixSet().covers_family(6)
