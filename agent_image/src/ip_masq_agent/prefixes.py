"""One prefix type and one prefix set: every CIDR from stack config to the kernel.

`Prefix` is one CIDR (family, first address as an int, length); `Prefix.parse` is the one
strict CIDR parser. `PrefixSet` is a set of addresses of both families: the one interval merge,
the minimal CIDR cover, nft's set element text and the longest-prefix decision of
forceMasqueradeCIDRs all live here, on plain integers.

Why the standard library's `ipaddress` (and only for text <-> integer at the edges): the agent
runs on Debian's python3 with nothing but python3-yaml and python3-prometheus-client, so its
CIDR code cannot use netaddr. The design card named netaddr for the Pulumi side, but that side
ships this very package (it already checks its ConfigMap with the agent's parser), so it uses
these types too and needs netaddr no more: one type and one parser from the stack config to
the kernel, and no second library that could accept, print or merge a CIDR differently. The
set arithmetic is a few dozen lines on integers (`intervals`), property-tested against
`ipaddress`; parsing an IPv4 address by hand keeps a 10,000-CIDR edit cheap.
"""

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ip_masq_agent.intervals import (
    Interval,
    aligned_block_count,
    aligned_blocks,
    decide,
    merge,
    subtract,
)
from ip_masq_agent.quoting import quoted

BITS: Final = {4: 32, 6: 128}
# Only address characters and one "/length": nothing else can reach a rule payload.
_SHAPE: Final = re.compile(r"([0-9A-Fa-f.:]{2,45})/([0-9]{1,3})")
# The common case in one match: four octets as `ipaddress.IPv4Address` accepts them (decimal,
# 0-255, no leading zeros) and a length of `_SHAPE`'s digits. What it does not match takes the
# general path, which decides (and words the refusal) exactly as before.
_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_CIDR: Final = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}/([0-9]{{1,3}})")


class PrefixError(ValueError):
    """A CIDR that must be refused; the message is one line naming the bad value."""


@dataclass(frozen=True, slots=True, order=True, repr=False)
class Prefix:
    """One CIDR; ordered IPv4 first, then by address, the wider block first at one address."""

    version: int  # 4 or 6
    first: int  # the network address
    length: int

    @classmethod
    def parse(cls, text: str, *, drop_host_bits: bool = False) -> "Prefix":
        """THE CIDR parser: `a.b.c.d/n` or IPv6 `x::/n`, nothing else, no host bits set.

        `drop_host_bits` reads a CIDR as cloud APIs report it (GKE keeps them); everything
        else must be written aligned. Whether a default route (/0) is acceptable is not a
        question of syntax but of a whole list: `config_bounds.exempting_everything` decides.
        """
        fast = _IPV4_CIDR.fullmatch(text)
        if fast is not None:  # one regex and four int()s: a 10,000-CIDR start parses them all
            a, b, c, d, length_text = fast.groups()
            length = int(length_text)
            first = int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
            if length <= 32 and first & ((1 << (32 - length)) - 1) == 0:
                return cls(4, first, length)
        shape = _SHAPE.fullmatch(text)
        if shape is None:
            raise PrefixError(f"{quoted(text)} is not a CIDR (want e.g. 10.0.0.0/8)")
        address, length_text = shape.groups()
        version = 6 if ":" in address else 4
        length = int(length_text)
        try:
            first = _ipv4(address) if version == 4 else int(ipaddress.IPv6Address(address))
        except ValueError:
            raise PrefixError(f"{quoted(text)} is not a CIDR (want e.g. 10.0.0.0/8)") from None
        host = BITS[version] - length
        if host < 0:
            raise PrefixError(f"{quoted(text)} is not a CIDR (want e.g. 10.0.0.0/8)")
        network = first >> host << host
        if network != first:
            if not drop_host_bits:
                raise PrefixError(
                    f"{quoted(text)} has host bits set (the network is "
                    f"{cls(version, network, length)})"
                )
            first = network
        return cls(version, first, length)

    @property
    def bits(self) -> int:
        return BITS[self.version]

    @property
    def last(self) -> int:
        return self.first + (1 << (BITS[self.version] - self.length)) - 1

    @property
    def interval(self) -> Interval:
        return Interval(self.first, self.last)

    def contains(self, other: "Prefix") -> bool:
        """`other` lies wholly inside this prefix (a prefix contains itself)."""
        return (
            other.version == self.version
            and other.length >= self.length
            and other.first >> (BITS[self.version] - self.length)
            == self.first >> (BITS[self.version] - self.length)
        )

    def __str__(self) -> str:
        return f"{address_text(self.first, self.version)}/{self.length}"

    def __repr__(self) -> str:
        return f"Prefix.parse({str(self)!r})"


def _ipv4(address: str) -> int:
    """Dotted IPv4 as `ipaddress.IPv4Address` accepts it (four decimal octets, no leading
    zeros), three times faster: a 10,000-CIDR config is parsed at every edit."""
    octets = address.split(".")
    if len(octets) != 4:
        raise ValueError(address)
    value = 0
    for octet in octets:
        if not octet.isdigit() or len(octet) > 3 or (octet[0] == "0" and len(octet) > 1):
            raise ValueError(address)
        number = int(octet)
        if number > 255:
            raise ValueError(address)
        value = value << 8 | number
    return value


def address_text(address: int, version: int) -> str:
    """An address as Python (and nft, iptables) print it."""
    if version == 4:
        return f"{address >> 24}.{address >> 16 & 255}.{address >> 8 & 255}.{address & 255}"
    # inet_ntop is ten times cheaper than an IPv6Address per element of a 10,000-entry set,
    # and prints the same text but for an address with an IPv4 tail (`::ffff:1.2.3.4`,
    # `::1.2.3.4`), which glibc writes dotted and Python (3.11, 3.12) in hex words: that rare
    # case keeps Python's spelling, so the text never depends on the C library.
    text = socket.inet_ntop(socket.AF_INET6, address.to_bytes(16, "big"))
    return str(ipaddress.IPv6Address(address)) if "." in text else text


def address_value(text: str, version: int) -> int:
    """Address text as a kernel tool lists it, as an integer; OSError when it is not one."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    return int.from_bytes(socket.inet_pton(family, text), "big")


def canonical_network(text: str) -> str:
    """An address or CIDR a kernel tool listed, as Python prints it (tools differ, e.g. on
    IPv4-mapped IPv6). Dotted IPv4 is printed alike by every tool and by Python, so it stays as
    it is (and a foreign rule's host bits stay a difference); only IPv6 text is parsed."""
    if ":" not in text:
        return text
    try:
        return ipaddress.ip_network(text, strict=False).with_prefixlen
    except ValueError:
        return text


def element_text(interval: Interval, version: int) -> str:
    """An interval as nft writes a set element: a CIDR when it is one, else `first-last`."""
    first, last = interval
    size = last - first + 1
    if size & (size - 1) == 0 and first % size == 0:
        return f"{address_text(first, version)}/{BITS[version] - size.bit_length() + 1}"
    return f"{address_text(first, version)}-{address_text(last, version)}"


def _by_family(prefixes: Iterable[Prefix]) -> dict[int, list[Interval]]:
    spans: dict[int, list[Interval]] = {4: [], 6: []}
    for prefix in prefixes:  # `prefix.interval`, inlined: 10,000 of them at every render
        first = prefix.first
        last = first + (1 << (BITS[prefix.version] - prefix.length)) - 1
        spans[prefix.version].append(Interval(first, last))
    return spans


class PrefixSet:
    """An immutable set of addresses of one or both families, kept as merged intervals."""

    __slots__ = ("_intervals",)

    def __init__(self, prefixes: Iterable[Prefix] = ()) -> None:
        spans = _by_family(prefixes)
        self._intervals = {version: merge(spans[version]) for version in BITS}

    @classmethod
    def _of(cls, intervals: dict[int, Iterable[Interval]]) -> "PrefixSet":
        result = cls()
        result._intervals = {version: merge(intervals[version]) for version in BITS}
        return result

    @classmethod
    def non_masquerade(cls, kept: Iterable[Prefix], excepted: Iterable[Prefix]) -> "PrefixSet":
        """The addresses whose most specific prefix of both lists is a kept one (the
        longest-prefix rule of forceMasqueradeCIDRs). A prefix in both lists has no answer."""
        kept, excepted = set(kept), set(excepted)
        both = kept & excepted
        if both:
            raise PrefixError(f"{min(both)} is both kept and excepted")
        kept_spans, excepted_spans = _by_family(kept), _by_family(excepted)
        return cls._of({v: decide(kept_spans[v], excepted_spans[v]) for v in BITS})

    def intervals(self, version: int) -> tuple[Interval, ...]:
        """One family's addresses: sorted, disjoint, non-adjacent intervals."""
        return self._intervals[version]

    def prefixes(self, version: int | None = None) -> tuple[Prefix, ...]:
        """The fewest prefixes covering the set exactly; IPv4 first, each in address order."""
        return tuple(
            Prefix(v, first, length)
            for v in (BITS if version is None else (version,))
            for interval in self._intervals[v]
            for first, length in aligned_blocks(interval, BITS[v])
        )

    def cidrs(self) -> tuple[str, ...]:
        """`prefixes()` as canonical text."""
        return tuple(str(prefix) for prefix in self.prefixes())

    def nft_elements(self, version: int) -> list[str]:
        """One family's intervals as nft set elements (what `nft list` prints back)."""
        return [element_text(interval, version) for interval in self._intervals[version]]

    def covers(self, prefix: Prefix) -> bool:
        """Every address of `prefix` is in the set."""
        return any(
            i.first <= prefix.first and prefix.last <= i.last
            for i in self._intervals[prefix.version]
        )

    def covers_family(self, version: int) -> bool:
        """The set holds every address of the family: a default route, however it is spelt."""
        return self._intervals[version] == (Interval(0, (1 << BITS[version]) - 1),)

    def __sub__(self, other: "PrefixSet") -> "PrefixSet":
        """The addresses of this set that `other` does not hold."""
        return PrefixSet._of({v: subtract(self._intervals[v], other._intervals[v]) for v in BITS})

    def __bool__(self) -> bool:
        return any(self._intervals.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixSet) and self._intervals == other._intervals

    def __hash__(self) -> int:
        return hash((self._intervals[4], self._intervals[6]))

    def __repr__(self) -> str:
        return f"PrefixSet({list(self.cidrs())!r})"


def planned_cidr_count(kept: Sequence[Prefix], excepted: Sequence[Prefix]) -> int:
    """How many destination CIDRs (rules) the lists plan, both families: what `plan_rules` lists.

    A family without exceptions keeps its CIDRs as written; with them, the size of the
    longest-prefix answer's cover, counted without building one prefix: 200 exceptions can
    split a kept /8 into tens of thousands of CIDRs, which is what must be refused first.
    """
    if not excepted:  # the common case, at every parse of a 10,000-CIDR list: just count
        return len(kept)
    kept_spans, excepted_spans = _by_family(kept), _by_family(excepted)
    return sum(
        sum(map(aligned_block_count, decide(kept_spans[v], excepted_spans[v])))
        if excepted_spans[v]
        else len(kept_spans[v])
        for v in BITS
    )
