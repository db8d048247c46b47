"""Interval arithmetic on address integers: merge, cover by aligned blocks, decide, subtract.

The engine under `prefixes.PrefixSet`, on plain integers: nothing here parses or prints. An
interval is a run of addresses of one family, both ends included.
"""

from collections.abc import Iterable, Iterator
from typing import NamedTuple


class Interval(NamedTuple):
    """Addresses `first` to `last` inclusive, as integers of one address family."""

    first: int
    last: int


def merge(spans: Iterable[Interval]) -> tuple[Interval, ...]:
    """THE interval merge: sorted, disjoint and never adjacent (adjacent runs are joined).

    nft interval sets refuse overlapping elements, and a merged set is what `nft list` prints
    back, so the listing stays a faithful fingerprint. Integers: 10,000 CIDRs in milliseconds.
    """
    merged: list[Interval] = []
    for span in sorted(spans):
        if merged and span.first <= merged[-1].last + 1:
            if span.last > merged[-1].last:
                merged[-1] = Interval(merged[-1].first, span.last)
        else:
            merged.append(span)  # kept as it is: a new tuple per element cost 50,000 at 50,000
    return tuple(merged)


def aligned_blocks(interval: Interval, bits: int) -> Iterator[tuple[int, int]]:
    """(first, length) of the fewest aligned blocks covering exactly this interval, in order.

    Greedy is optimal: from each start, the largest aligned block that does not run past the end.
    """
    first, last = interval
    while first <= last:
        size = first & -first if first else 1 << bits
        while size > last - first + 1:
            size >>= 1
        yield first, bits - size.bit_length() + 1
        first += size


def aligned_block_count(interval: Interval) -> int:
    """How many blocks `aligned_blocks` yields, in constant time and building nothing.

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


def decide(kept: Iterable[Interval], excepted: Iterable[Interval]) -> tuple[Interval, ...]:
    """The addresses whose most specific (smallest) block of both lists is a kept one, merged.

    The blocks are CIDRs, so they either nest or are apart: a walk in address order with a
    stack of the blocks holding the cursor knows at every point which one is the most
    specific (the top). The caller refuses a block that is in both lists.
    """
    # Same start: the larger block first, so it lies below its sub-blocks on the stack.
    blocks = sorted(
        (first, -last, keep)
        for keep, spans in ((True, set(kept)), (False, set(excepted)))
        for first, last in spans
    )
    spans: list[Interval] = []
    open_blocks: list[tuple[int, bool]] = []  # (last address, kept?) of blocks holding the cursor
    cursor = 0  # the first address not decided yet
    for start, negative_last, keep in blocks:
        while open_blocks and open_blocks[-1][0] < start:
            block_last, block_keep = open_blocks.pop()
            if block_keep and cursor <= block_last:
                spans.append(Interval(cursor, block_last))
            cursor = block_last + 1
        if open_blocks and open_blocks[-1][1] and cursor < start:
            spans.append(Interval(cursor, start - 1))
        cursor = start
        open_blocks.append((-negative_last, keep))
    while open_blocks:
        block_last, block_keep = open_blocks.pop()
        if block_keep and cursor <= block_last:
            spans.append(Interval(cursor, block_last))
        cursor = block_last + 1
    return merge(spans)


def subtract(minuend: tuple[Interval, ...], subtrahend: tuple[Interval, ...]) -> Iterator[Interval]:
    """Merged intervals minus merged intervals, in one walk of both."""
    holes = iter(subtrahend)
    hole = next(holes, None)
    for first, last in minuend:
        start = first
        while hole is not None and hole.last < start:
            hole = next(holes, None)
        while hole is not None and hole.first <= last:
            if hole.first > start:
                yield Interval(start, hole.first - 1)
            start = hole.last + 1
            if start > last:
                break
            hole = next(holes, None)
        if start <= last:
            yield Interval(start, last)
