"""The nftables script for a DesiredRules plan: one `inet` table replaced in one transaction."""

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Final

from ip_masq_agent.config import Network
from ip_masq_agent.contract import DEFAULT_NFT_TABLE, NFT_CHAIN, PORT_PROTOCOLS
from ip_masq_agent.rules import DesiredRules, Family, FamilyRules, Masquerade

DEFAULT_TABLE: Final = DEFAULT_NFT_TABLE
# Every table the agent names starts so: no node table (`filter`, `nat`, `firewalld`) can be
# taken for ours whatever --masq-chain says. The default chain keeps the table it always had.
TABLE_PREFIX: Final = "ip-masq-agent"
# Written as the table's comment: a table is removed only when it carries this (or is exactly
# what versions before the marker wrote); a table that only shares the name is left alone.
TABLE_MARKER: Final = "ip-masq-agent: owned by the node agent; removed by its cleanup"
_OBJECT: Final = re.compile(
    r"^\s*(set|map|chain|flowtable|counter|quota|ct|limit|secmark|synproxy)\s+(\S+)\s", re.M
)
_UNMARKED_CHAIN_START: Final = (
    "type nat hook postrouting priority srcnat; policy accept;\n\t\tfib daddr type local return"
)
# What versions before the marker wrote: only these, and our chain's first rule.
_UNMARKED_OBJECTS: Final = frozenset(
    {("set", "nomasq_ipv4"), ("set", "nomasq_ipv6"), ("chain", "postrouting")}
)


def table_name(chain: str) -> str:
    """The nft table for `--masq-chain`: the default IP-MASQ-AGENT owns `inet ip-masq-agent`."""
    lowered = chain.lower()
    return DEFAULT_TABLE if lowered == DEFAULT_TABLE else f"{TABLE_PREFIX}-{lowered}"


def unmarked_table_name(chain: str) -> str:
    """The name versions before the prefix used: the chain lower-cased (`filter` for FILTER)."""
    return chain.lower()


def is_our_table(listing: str) -> bool:
    """Whether `nft list table` output is a table this agent wrote: marked, or exactly ours.

    Unmarked tables are those of earlier versions (migration): only the sets `nomasq_ipv4`,
    `nomasq_ipv6` and the chain `postrouting` starting with our local-destination rule.
    """
    if f'comment "{TABLE_MARKER}"' in listing:
        return True
    objects = {(kind, name) for kind, name in _OBJECT.findall(listing)}
    return (
        ("chain", CHAIN) in objects
        and objects <= _UNMARKED_OBJECTS
        and _UNMARKED_CHAIN_START in listing
    )


CHAIN: Final = NFT_CHAIN
_CHAIN_HEADER: Final = "type nat hook postrouting priority srcnat; policy accept;"

_ADDRESS_TYPE: Final[dict[Family, str]] = {"ipv4": "ipv4_addr", "ipv6": "ipv6_addr"}
_DADDR: Final[dict[Family, str]] = {"ipv4": "ip daddr", "ipv6": "ip6 daddr"}


def set_name(family: Family) -> str:
    """The interval set holding one family's non-masquerade destinations."""
    return f"nomasq_{family}"


def merge_ranges(cidrs: Iterable[Network]) -> list[tuple[int, int]]:
    """One family's CIDRs as sorted, disjoint, non-adjacent (first, last) address intervals.

    nft interval sets refuse overlapping elements; merging here (rather than `auto-merge` in
    the set) keeps `nft list` equal to what we wrote, so the listing stays a faithful
    fingerprint for drift detection. Integer arithmetic: 10,000 CIDRs merge in milliseconds.
    """
    spans = sorted(
        (start, start + (1 << (c.max_prefixlen - c.prefixlen)) - 1)
        for c in cidrs
        for start in (int(c.network_address),)
    )
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            if last > merged[-1][1]:
                merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def element_text(first: int, last: int, family: Family) -> str:
    """An interval as nft writes it: a CIDR when it is one, else `first-last`."""
    address = ipaddress.IPv4Address if family == "ipv4" else ipaddress.IPv6Address
    size = last - first + 1
    if size & (size - 1) == 0 and first % size == 0:
        bits = 32 if family == "ipv4" else 128
        return f"{address(first)}/{bits - size.bit_length() + 1}"
    return f"{address(first)}-{address(last)}"


def _elements(rules: FamilyRules) -> str | None:
    """One family's set elements as nft writes them between braces; None when there are none."""
    elements = [element_text(*span, rules.family) for span in merge_ranges(rules.non_masquerade)]
    return ", ".join(elements) if elements else None


def _set_block(rules: FamilyRules) -> list[str]:
    lines = [
        f"\tset {set_name(rules.family)} {{",
        f"\t\ttype {_ADDRESS_TYPE[rules.family]}",
        "\t\tflags interval",
    ]
    elements = _elements(rules)
    if elements is not None:
        lines.append(f"\t\telements = {{ {elements} }}")
    lines.append("\t}")
    return lines


def _masquerade_rules(family: Family, masquerade: Masquerade) -> list[str]:
    """Masquerade for one family; several `--to-ports` ranges drawn with size-weighted odds.

    Range i is taken with probability size_i / (sizes of ranges i..n) given the earlier ones were
    not: overall each range is chosen in proportion to its size, as the iptables backend's
    `statistic` rules do. The last range needs no draw. Other protocols (ICMP) have no ports and
    fall through to the plain masquerade.
    """
    scope = f"meta nfproto {family}"
    flags = " fully-random" if masquerade.random_fully else ""
    lines: list[str] = []
    remaining = sum(r.size for r in masquerade.to_ports)
    protocols = "meta l4proto { " + ", ".join(PORT_PROTOCOLS) + " }"
    for port_range in masquerade.to_ports:
        draw = (
            ""
            if port_range.size == remaining
            else f" numgen random mod {remaining} < {port_range.size}"
        )
        ports = (
            str(port_range.first)
            if port_range.first == port_range.last
            else f"{port_range.first}-{port_range.last}"
        )
        lines.append(f"\t\t{scope} {protocols}{draw} masquerade to :{ports}{flags}")
        remaining -= port_range.size
    lines.append(f"\t\t{scope} masquerade{flags}")
    return lines


def canonical_network(text: str) -> str:
    """An address or CIDR as Python prints it (tools differ, e.g. on IPv4-mapped IPv6).

    Dotted IPv4 is printed alike by every tool and by Python, so it stays as it is (and a
    foreign rule's host bits stay a difference); only IPv6 text is parsed.
    """
    if ":" not in text:
        return text
    try:
        return ipaddress.ip_network(text, strict=False).with_prefixlen
    except ValueError:
        return text


def canonical_element(token: str) -> str:
    """One token of a listing as Python prints it; anything not an address stays as it is."""
    body, comma = (token[:-1], ",") if token.endswith(",") else (token, "")
    if not body or not (body[0].isdigit() or body[0] in ":abcdef"):
        return token
    if ":" not in body:  # IPv4 or no address: only a one-address CIDR is printed otherwise
        return f"{body.removesuffix('/32')}{comma}"
    first, dash, last = body.partition("-")
    try:
        if dash:
            return f"{ipaddress.ip_address(first)}-{ipaddress.ip_address(last)}{comma}"
        network = ipaddress.ip_network(body, strict=False)
    except ValueError:
        return token
    single = network.prefixlen == network.max_prefixlen
    return f"{network.network_address if single else network.with_prefixlen}{comma}"


def canonical_listing(text: str, canonical: Callable[[str], str] = canonical_element) -> str:
    """`nft list table` output or our table definition, as one comparable line.

    nft re-wraps long element lists, indents with its own mix of tabs and spaces and prints
    a one-address interval without `/32`; none of that is a difference in the rules.
    `canonical` is `canonical_element`, or the backend's memo of it (a listing of 10,000
    elements repeats from sync to sync, and ipaddress takes ~20 µs to parse one).
    """
    return " ".join(map(canonical, text.split()))


def render_table_definition(desired: DesiredRules, *, table: str = DEFAULT_TABLE) -> str:
    """Just the `table inet ... { ... }` block: what `nft list table` shows once it is in."""
    return render_nftables_payload(desired, table=table).split("\n", 2)[2]


def render_nftables_payload(desired: DesiredRules, *, table: str = DEFAULT_TABLE) -> str:
    """The `nft -f` script: create-if-missing, delete, redefine the table, all one transaction.

    The leading empty `table` makes the `delete` valid on a node where the table does not exist
    yet, so first apply, re-apply and repair are one and the same script.
    """
    lines = [
        f"table inet {table} {{}}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        f'\tcomment "{TABLE_MARKER}"',
    ]
    for rules in desired.families:
        lines.extend(_set_block(rules))
    lines.extend([f"\tchain {CHAIN} {{", f"\t\t{_CHAIN_HEADER}"])
    lines.extend(f"\t\t{rule}" for rule in _chain_rules(desired))
    lines.extend(["\t}", "}"])
    return "\n".join(lines) + "\n"


def _chain_rules(desired: DesiredRules) -> list[str]:
    # Upstream's `-m addrtype ! --dst-type LOCAL`: the node's own addresses are not NATed.
    rules = ["fib daddr type local return"]
    rules.extend(
        f"{_DADDR[family.family]} @{set_name(family.family)} return" for family in desired.families
    )
    for family in desired.families:
        rules.extend(
            line.lstrip("\t") for line in _masquerade_rules(family.family, family.masquerade)
        )
    return rules


def render_nftables_update(desired: DesiredRules, *, table: str = DEFAULT_TABLE) -> str:
    """The `nft -f` script rewriting, in place, a table that already has the desired layout.

    Why not the create-delete-redefine payload every time: a table deleted and re-created in
    one transaction has a moment at commit when the new chain already answers but its new set
    does not yet match (on 6.18 a few pod-to-pod flows per hundred re-applies came out
    masqueraded). Here the table, its sets and its chain stay: only their contents are
    flushed and written again, still one transaction. Valid only when `table_skeleton` of the
    kernel's table equals that of the desired one (same sets, same chain, nothing else).
    """
    return update_from_payload(render_nftables_payload(desired, table=table), table=table)


_SET_BLOCK: Final = re.compile(r"^\tset (\S+) \{\n((?:\t\t.*\n)*?)\t\}$", re.M)


def update_from_payload(payload: str, *, table: str) -> str:
    """`render_nftables_update` out of the payload already rendered (merging is not free)."""
    lines: list[str] = []
    for block in _SET_BLOCK.finditer(payload):
        lines.append(f"flush set inet {table} {block[1]}")
        for line in block[2].splitlines():
            elements = line.removeprefix("\t\telements = ")
            if elements != line:
                lines.append(f"add element inet {table} {block[1]} {elements}")
    lines.append(f"flush chain inet {table} {CHAIN}")
    body = payload[payload.index(f"\t\t{_CHAIN_HEADER}\n") + len(_CHAIN_HEADER) + 3 :]
    rules = body[: body.index("\n\t}")].split("\n")
    lines.extend(f"add rule inet {table} {CHAIN} {rule.strip()}" for rule in rules)
    return "\n".join(lines) + "\n"


# Elements hold no braces; a chain's rules hold at most one level (anonymous sets).
_ELEMENTS: Final = re.compile(r"\belements = \{[^{}]*\}")
_CHAIN_RULES: Final = re.compile(r"\bpolicy (\S+;)(?:[^{}]|\{[^{}]*\})*\}")


def table_skeleton(text: str) -> str:
    """A table listing (or our definition) less set elements and chain rules, as one line.

    Two tables with equal skeletons differ only in what `render_nftables_update` rewrites.
    Anything else (a set or chain more or less, other set flags, another hook) keeps the
    skeletons apart, and the backend then replaces the table whole.
    """
    flat = _ELEMENTS.sub(" ", " ".join(text.split()))
    return " ".join(_CHAIN_RULES.sub(r"policy \1 }", flat).split())


def render_nftables_cleanup(*, table: str = DEFAULT_TABLE) -> str:
    """The `nft -f` script removing the table, valid whether or not the table exists.

    Only for a table `is_our_table` accepted: the leading `table` line would otherwise keep a
    foreign table as it is, but the `delete` would not.
    """
    return f"table inet {table} {{}}\ndelete table inet {table}\n"
