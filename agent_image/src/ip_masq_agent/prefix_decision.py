"""Longest-prefix decision over kept and excepted CIDRs, as disjoint non-masquerade intervals."""

# Postponed annotations: config imports this module to bound the plan a config makes.
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ip_masq_agent.config import Network


class Interval(NamedTuple):
    """Addresses `first` to `last` inclusive, as integers of one address family."""

    first: int
    last: int


def _span(network: Network) -> Interval:
    first = int(network.network_address)
    return Interval(first, first + network.num_addresses - 1)


def non_masquerade_intervals(
    kept: Sequence[Network], excepted: Sequence[Network]
) -> tuple[Interval, ...]:
    """The addresses whose most specific matching CIDR is a kept one.

    Sorted, disjoint and never adjacent (adjacent runs are joined), so each interval is as
    large as it can be. CIDRs either nest or are apart, so a walk in address order with a
    stack of the CIDRs containing the cursor knows at every point which one is the most
    specific (the top of the stack). A CIDR in both lists has no answer: ValueError.
    """
    both = set(kept) & set(excepted)
    if both:
        raise ValueError(f"{min(both)} is both kept and excepted")
    versions = {network.version for network in (*kept, *excepted)}
    if len(versions) > 1:
        raise ValueError("kept and excepted CIDRs must be of one address family")
    # Same start: the larger block first, so it lies below its sub-blocks on the stack.
    blocks = sorted(
        (int(n.network_address), n.prefixlen, _span(n).last, keep)
        for keep, networks in ((True, set(kept)), (False, set(excepted)))
        for n in networks
    )
    result: list[Interval] = []

    def emit(first: int, last: int, keep: bool) -> None:
        if first > last or not keep:
            return
        if result and result[-1].last + 1 == first:
            result[-1] = Interval(result[-1].first, last)
        else:
            result.append(Interval(first, last))

    open_blocks: list[tuple[int, bool]] = []  # (last address, kept?) of CIDRs holding the cursor
    cursor = 0  # the first address not decided yet
    for start, _, last, keep in blocks:
        while open_blocks and open_blocks[-1][0] < start:
            block_last, block_keep = open_blocks.pop()
            emit(cursor, block_last, block_keep)
            cursor = block_last + 1
        if open_blocks:
            emit(cursor, start - 1, open_blocks[-1][1])
        cursor = start
        open_blocks.append((last, keep))
    while open_blocks:
        block_last, block_keep = open_blocks.pop()
        emit(cursor, block_last, block_keep)
        cursor = block_last + 1
    return tuple(result)


def interval_cidrs(interval: Interval, version: int) -> tuple[Network, ...]:
    """The fewest CIDRs that cover exactly this interval, in address order (greedy is optimal)."""
    bits = 32 if version == 4 else 128
    network = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    cidrs: list[Network] = []
    first = interval.first
    while first <= interval.last:
        # The largest aligned block starting at `first` that does not run past the end.
        size = first & -first if first else 1 << bits
        while size > interval.last - first + 1:
            size >>= 1
        cidrs.append(network((first, bits - size.bit_length() + 1)))
        first += size
    return tuple(cidrs)


def effective_non_masquerade(
    kept: Sequence[Network], excepted: Sequence[Network]
) -> tuple[Network, ...]:
    """The kept-minus-excepted destinations of one family as disjoint CIDRs, in address order."""
    if not kept:
        return ()
    version = kept[0].version
    return tuple(
        cidr
        for interval in non_masquerade_intervals(kept, excepted)
        for cidr in interval_cidrs(interval, version)
    )


def interval_cidr_count(interval: Interval) -> int:
    """`len(interval_cidrs(interval, version))`, in constant time and building nothing.

    Below the highest bit where `first` and `last` differ, the greedy cover climbs from
    `first` to the aligned midpoint, one block per set bit of the distance, then descends
    to the end the same way; both halves full is the one case of a single aligned block.
    """
    first, last = interval
    if first == last:
        return 1
    half = 1 << ((first ^ last).bit_length() - 1)
    middle = last & -half  # `last` with the bits below `half` cleared
    rising, falling = middle - first, last + 1 - middle
    if rising == falling == half:
        return 1
    return rising.bit_count() + falling.bit_count()


def planned_cidr_count(kept: Sequence[Network], excepted: Sequence[Network]) -> int:
    """How many destination CIDRs (rules) one family's lists plan: what `plan_rules` lists.

    Without exceptions the kept CIDRs as written; with them `effective_non_masquerade`'s
    count, computed without building one network: 200 exceptions can split a kept /8 into
    tens of thousands of CIDRs, which is what must be refused before it is built.
    """
    if not excepted:
        return len(kept)
    if not kept:
        return 0
    return sum(map(interval_cidr_count, non_masquerade_intervals(kept, excepted)))
