"""forceMasqueradeCIDRs: the plan against a brute-force longest-prefix reference, both families."""

import ipaddress
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.config import AgentConfig
from ip_masq_agent.intervals import Interval, aligned_block_count, aligned_blocks
from ip_masq_agent.iptables_payload import render_chain_payload
from ip_masq_agent.nftables_payload import render_nftables_payload
from ip_masq_agent.prefixes import Prefix, PrefixSet
from ip_masq_agent.prefixes import planned_cidr_count as planned_prefix_count
from ip_masq_agent.rules import LINK_LOCAL, Family, Masquerade, plan_rules

BITS = {4: 32, 6: 128}
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# The reference side of these tests speaks the stdlib's types; the code under test, Prefix.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _prefixes(networks: list[Network]) -> tuple[Prefix, ...]:
    return tuple(Prefix.parse(n.with_prefixlen) for n in networks)


def _network(prefix: Prefix) -> Network:
    return ipaddress.ip_network(str(prefix))


def non_masquerade_intervals(kept: list[Network], excepted: list[Network]) -> tuple[Interval, ...]:
    """One family's intervals of the longest-prefix answer (the lists hold one family)."""
    decided = PrefixSet.non_masquerade(_prefixes(kept), _prefixes(excepted))
    return decided.intervals(4) + decided.intervals(6)


def effective_non_masquerade(kept: list[Network], excepted: list[Network]) -> tuple[Network, ...]:
    decided = PrefixSet.non_masquerade(_prefixes(kept), _prefixes(excepted))
    return tuple(map(_network, decided.prefixes()))


def interval_cidrs(interval: Interval, version: int) -> tuple[Network, ...]:
    return tuple(
        _network(Prefix(version, *block)) for block in aligned_blocks(interval, BITS[version])
    )


def planned_cidr_count(kept: list[Network], excepted: list[Network]) -> int:
    return planned_prefix_count(_prefixes(kept), _prefixes(excepted))


interval_cidr_count = aligned_block_count


def _ip(address: int, version: int) -> Address:
    # Not ip_address(int): a small integer would come back as an IPv4 address.
    return ipaddress.IPv4Address(address) if version == 4 else ipaddress.IPv6Address(address)


def reference_keeps(address: int, kept: list[Network], excepted: list[Network]) -> bool:
    """The rule, spelt out: the longest matching prefix of both lists decides; none: masquerade."""
    matches = [
        (network.prefixlen, keep)
        for keep, networks in ((True, kept), (False, excepted))
        for network in networks
        if int(network.network_address) <= address <= int(network.broadcast_address)
    ]
    return max(matches)[1] if matches else False


@st.composite
def overlapping_lists(draw: st.DrawFn, version: int) -> tuple[list[Network], list[Network]]:
    """Two CIDR lists that nest often: every CIDR is a prefix of one of a few related seeds."""
    bits = BITS[version]
    seed = draw(st.integers(0, (1 << bits) - 1))
    flips = draw(st.lists(st.integers(0, bits - 1), max_size=3))
    seeds = [seed] + [seed ^ (1 << bit) for bit in flips]
    network = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network

    def cidr(seed_index: int, prefix: int) -> Network:
        address = seeds[seed_index % len(seeds)]
        return network((address >> (bits - prefix) << (bits - prefix), prefix))

    block = st.builds(cidr, st.integers(0, 3), st.integers(0, bits))
    kept = draw(st.lists(block, max_size=8))
    excepted = [c for c in draw(st.lists(block, max_size=8)) if c not in kept]
    return kept, excepted


def probe_addresses(cidrs: list[Network], bits: int, extra: list[int]) -> set[int]:
    """Every CIDR's edges and the addresses just outside them: where a wrong answer shows."""
    top = (1 << bits) - 1
    points = {0, top, *extra}
    for network in cidrs:
        first, last = int(network.network_address), int(network.broadcast_address)
        points |= {first, last, max(first - 1, 0), min(last + 1, top), (first + last) // 2}
    return points


def _inside(address: int, intervals: tuple[Interval, ...]) -> bool:
    return any(i.first <= address <= i.last for i in intervals)


def _check_intervals_and_cidrs(
    kept: list[Network], excepted: list[Network], version: int, extra: list[int]
) -> None:
    intervals = non_masquerade_intervals(kept, excepted)
    # Sorted, disjoint and never adjacent: no two could be one interval.
    for before, after in itertools.pairwise(intervals):
        assert before.last + 1 < after.first
    assert all(i.first <= i.last for i in intervals)
    cidrs = effective_non_masquerade(kept, excepted)
    for address in probe_addresses(kept + excepted, BITS[version], extra):
        expected = reference_keeps(address, kept, excepted)
        assert _inside(address, intervals) == expected, _ip(address, version)
        # What iptables evaluates: the first of the plan's CIDRs that matches, if any.
        matching = [c for c in cidrs if _ip(address, version) in c]
        assert bool(matching) == expected
        assert len(matching) <= 1


@settings(max_examples=200, deadline=None)
@given(lists=overlapping_lists(4), extra=st.lists(st.integers(0, 2**32 - 1), max_size=8))
def test_ipv4_plan_equals_longest_prefix_reference(
    lists: tuple[list[Network], list[Network]], extra: list[int]
) -> None:
    _check_intervals_and_cidrs(*lists, 4, extra)


@settings(max_examples=200, deadline=None)
@given(lists=overlapping_lists(6), extra=st.lists(st.integers(0, 2**128 - 1), max_size=8))
def test_ipv6_plan_equals_longest_prefix_reference(
    lists: tuple[list[Network], list[Network]], extra: list[int]
) -> None:
    _check_intervals_and_cidrs(*lists, 6, extra)


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from([4, 6]),
    data=st.data(),
)
def test_interval_cidrs_cover_exactly_with_the_fewest_blocks(
    version: int, data: st.DataObject
) -> None:
    bits = BITS[version]
    # Mostly short intervals near an alignment edge, sometimes anything.
    first = data.draw(st.integers(0, (1 << bits) - 1))
    length = data.draw(st.one_of(st.integers(0, 4096), st.integers(0, (1 << bits) - 1)))
    last = min(first + length, (1 << bits) - 1)
    cidrs = interval_cidrs(Interval(first, last), version)
    spans = [(int(c.network_address), int(c.broadcast_address)) for c in cidrs]
    # Exact cover, in order, without overlap.
    assert spans[0][0] == first and spans[-1][1] == last
    for before, after in itertools.pairwise(spans):
        assert before[1] + 1 == after[0]
    # Fewest: an exact cover by aligned blocks that is not minimal always holds two sibling
    # blocks (halves of one parent), which one parent block could replace.
    for a, b in itertools.pairwise(cidrs):
        assert not (a.prefixlen == b.prefixlen and a.supernet() == b.supernet()), (a, b)


def _rendered_decisions(
    config: AgentConfig, family: Family, addresses: set[int]
) -> dict[int, tuple[bool, bool]]:
    """Address -> (iptables keeps, nftables keeps), read back from the rendered text."""
    desired = plan_rules(config, chain="C", enable_ipv6=True, masquerade=Masquerade())
    rules = desired.family(family)
    assert rules is not None
    # iptables: (destination or None for "any", RETURN?) in rule order; the first match wins.
    chain: list[tuple[Network | None, bool]] = []
    for line in render_chain_payload(rules, chain="C", random_fully=True).splitlines():
        if line.startswith("-A C "):
            destination = re.search(r" -d (\S+) ", line)
            network = ipaddress.ip_network(destination.group(1)) if destination else None
            chain.append((network, line.endswith("-j RETURN")))
    assert chain[-1] == (None, False)  # MASQUERADE is last and matches everything
    nft = render_nftables_payload(desired)
    elements = re.search(rf"set nomasq_{family} {{[^}}]*elements = {{ ([^}}]*) }}", nft)
    spans: list[tuple[int, int]] = []
    for element in elements.group(1).split(", ") if elements else ():
        low, _, high = element.partition("-")
        if high:
            spans.append((int(ipaddress.ip_address(low)), int(ipaddress.ip_address(high))))
        else:
            network = ipaddress.ip_network(low)
            spans.append((int(network.network_address), int(network.broadcast_address)))
    version = 4 if family == "ipv4" else 6
    decisions = {}
    for address in addresses:
        ip = _ip(address, version)
        iptables = next(keep for network, keep in chain if network is None or ip in network)
        decisions[address] = (iptables, any(low <= address <= high for low, high in spans))
    return decisions


@settings(max_examples=120, deadline=None)
@given(
    version=st.sampled_from([4, 6]),
    masq_link_local=st.booleans(),
    data=st.data(),
)
def test_both_rendered_payloads_answer_like_the_reference(
    version: int, masq_link_local: bool, data: st.DataObject
) -> None:
    kept, excepted = data.draw(overlapping_lists(version))
    family: Family = "ipv4" if version == 4 else "ipv6"
    link_local = _network(LINK_LOCAL[family])
    config = AgentConfig(
        non_masquerade_cidrs=_prefixes(kept),
        force_masquerade_cidrs=_prefixes(excepted),
        masq_link_local=masq_link_local,
        masq_link_local_ipv6=masq_link_local,
    )
    addresses = probe_addresses([*kept, *excepted, link_local], BITS[version], [])
    for address, decided in _rendered_decisions(config, family, addresses).items():
        # Link-local decides first on its own flag, as upstream's rule does.
        in_link_local = _ip(address, version) in link_local
        keeps = (in_link_local and not masq_link_local) or reference_keeps(address, kept, excepted)
        assert decided == (keeps, keeps), _ip(address, version)


def test_both_lists_holding_one_cidr_has_no_answer() -> None:
    same = ipaddress.ip_network("10.0.0.0/16")
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/16 is both kept and excepted"):
        non_masquerade_intervals([same], [same])


def _networks(*texts: str) -> list[Network]:
    return [ipaddress.ip_network(t) for t in texts]


# The overlapping example from upstream's PR #68 review, as the README works it through.
KEPT = _networks("10.0.0.0/8", "10.0.0.0/20")
EXCEPTED = _networks("10.0.0.0/16", "10.0.0.0/24")


@pytest.mark.parametrize(
    ("address", "keeps"),
    [
        pytest.param("10.0.5.1", True, id="in-/20-kept-inside-/16-excepted"),
        pytest.param("10.0.0.9", False, id="in-/24-excepted-inside-/20-kept"),
        pytest.param("10.0.16.1", False, id="in-/16-excepted-only"),
        pytest.param("10.1.0.1", True, id="in-/8-kept-only"),
        pytest.param("11.0.0.1", False, id="in-nothing"),
    ],
)
def test_worked_example(address: str, keeps: bool) -> None:
    ip = int(ipaddress.ip_address(address))
    assert reference_keeps(ip, KEPT, EXCEPTED) is keeps
    assert _inside(ip, non_masquerade_intervals(KEPT, EXCEPTED)) is keeps


def test_worked_example_intervals() -> None:
    assert [
        (str(ipaddress.ip_address(i.first)), str(ipaddress.ip_address(i.last)))
        for i in non_masquerade_intervals(KEPT, EXCEPTED)
    ] == [("10.0.1.0", "10.0.15.255"), ("10.1.0.0", "10.255.255.255")]


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from([4, 6]), data=st.data())
def test_interval_cidr_count_is_the_length_of_the_cover(version: int, data: st.DataObject) -> None:
    bits = BITS[version]
    first = data.draw(st.integers(0, (1 << bits) - 1))
    # Short and long intervals, aligned and not: the count is closed-form, the cover greedy.
    last = data.draw(
        st.integers(first, min((1 << bits) - 1, first + (1 << data.draw(st.integers(0, bits)))))
    )
    interval = Interval(first, last)
    assert interval_cidr_count(interval) == len(interval_cidrs(interval, version))


@settings(max_examples=200, deadline=None)
@given(version=st.sampled_from([4, 6]), data=st.data())
def test_planned_cidr_count_is_what_the_plan_lists(version: int, data: st.DataObject) -> None:
    kept, excepted = data.draw(overlapping_lists(version))
    expected = len(effective_non_masquerade(kept, excepted)) if excepted else len(kept)
    assert planned_cidr_count(kept, excepted) == expected


def test_two_hundred_scattered_host_exceptions_are_counted_without_being_built() -> None:
    kept = [ipaddress.ip_network("fd00::/8")]
    excepted = [ipaddress.ip_network(f"fd{i:02x}:{i:x}::{i:x}/128") for i in range(1, 201)]
    count = planned_cidr_count(kept, excepted)
    assert count == len(effective_non_masquerade(kept, excepted)) > 100 * len(excepted)


@pytest.mark.parametrize(
    ("first", "last", "version"),
    [
        pytest.param(0, 2**32 - 1, 4, id="everything-v4"),
        pytest.param(0, 2**128 - 1, 6, id="everything-v6"),
        pytest.param(2**24, 2**25 - 1, 4, id="one-aligned-block"),
        pytest.param(7, 7, 4, id="one-address"),
        pytest.param(1, 2**32 - 2, 4, id="all-but-the-ends"),
    ],
)
def test_interval_cidr_count_edges(first: int, last: int, version: int) -> None:
    interval = Interval(first, last)
    assert interval_cidr_count(interval) == len(interval_cidrs(interval, version))
