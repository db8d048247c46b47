"""The nftables table as typed values: what we write and what the kernel lists, one model.

A `Table` holds interval sets (elements as integer address intervals), one base chain and its
rules. The desired table is built from a DesiredRules plan (`desired_table`); the kernel's is
parsed from `nft -j list table` (listing.py). Both are compared as values: a rule's identity
is its nft JSON expression, which is also how the listing describes it, so no text we render
is ever read back.
"""

import json
from dataclasses import dataclass, field, replace
from typing import Final

from ip_masq_agent import prefixes
from ip_masq_agent.backends.nftables.element_texts import ElementTexts
from ip_masq_agent.backends.nftables.names import in_slot, set_name
from ip_masq_agent.intervals import Interval
from ip_masq_agent.prefixes import PrefixSet
from ip_masq_agent.rules import DesiredRules, Family, FamilyRules, Masquerade

CHAIN: Final = "postrouting"
# The protocols whose source port NAT can choose; the iptables backend uses the same three.
PORT_PROTOCOLS: Final = ("tcp", "udp", "sctp")
ADDRESS_TYPE: Final[dict[Family, str]] = {"ipv4": "ipv4_addr", "ipv6": "ipv6_addr"}
# The payload protocol of a destination match: `ip daddr`, `ip6 daddr`.
_PROTOCOL: Final[dict[Family, str]] = {"ipv4": "ip", "ipv6": "ip6"}

_VERSION: Final[dict[Family, int]] = {"ipv4": 4, "ipv6": 6}


def address_value(text: str, family: Family) -> int:
    """Address text (as nft lists it) as an integer; OSError when it is not one."""
    return prefixes.address_value(text, _VERSION[family])


def element_text(first: int, last: int, family: Family) -> str:
    """An interval as nft writes a set element (the prefixes module's one text of it)."""
    return prefixes.element_text(Interval(first, last), _VERSION[family])


@dataclass(frozen=True, slots=True)
class Rule:
    """One chain rule: its nft JSON expression (its identity) and the text we write it as.

    The listing gives only the expression, so two rules are equal when their expressions
    are; `text` is kept for writing and is empty for a rule that came from a listing.
    """

    expr: str
    text: str = field(default="", compare=False)

    @staticmethod
    def of(text: str, expr: list[object]) -> "Rule":
        return Rule(canonical_json(expr), text)


def canonical_json(value: object) -> str:
    """One text per JSON value, whatever the key order nft or we wrote it in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class IntervalSet:
    """A named interval set of one address type, its elements as integer intervals.

    `name` is the set's slot-0 name and `slot` which of its two kernel names it has now
    (`kernel_name`). An update fills a new set under the other name and points the chain at
    it (script.swap_scripts): a set that is new to nft costs no read of the table's current
    elements, which refilling one in place does (~0.2 s at 50,000). Where the set is does
    not change what it does, so `slot` is not compared and no view shows it.
    """

    name: str
    type: str
    flags: tuple[str, ...]
    elements: tuple[Interval, ...]
    # The elements as nft writes them, joined; rendered once for a table we build, as the
    # expected view and the script both show them (empty: render when asked).
    text: str = field(default="", compare=False)
    # Whatever else the listing showed in the set (another element form, a timeout): kept
    # as JSON so that it is a difference, never silently dropped.
    other: tuple[str, ...] = ()
    slot: int = field(default=0, compare=False)

    @property
    def family(self) -> Family:
        return "ipv6" if self.type == "ipv6_addr" else "ipv4"

    @property
    def kernel_name(self) -> str:
        return in_slot(self.name, self.slot)


@dataclass(frozen=True, slots=True)
class Chain:
    """A base chain: hook, priority and policy, then its rules in order."""

    name: str
    type: str
    hook: str
    priority: int
    policy: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """One `inet` table: its sets, its chains, and anything else it holds (as JSON).

    `lookups` are the kernel names of the sets its rules look up: which slot of a set acts
    (the rules themselves name every set by its slot-0 name, and no view shows it).
    """

    name: str
    sets: tuple[IntervalSet, ...]
    chains: tuple[Chain, ...]
    other: tuple[str, ...] = ()
    lookups: frozenset[str] = field(default=frozenset(), compare=False)


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A table less set elements and chain rules: what an in-place update cannot change."""

    sets: tuple[tuple[str, str, tuple[str, ...]], ...]
    chains: tuple[tuple[str, str, str, int, str], ...]
    other: tuple[str, ...]


def skeleton(table: Table) -> Skeleton:
    """Two tables with equal skeletons differ only in what the in-place update rewrites."""
    return Skeleton(
        tuple((s.name, s.type, s.flags) for s in table.sets if not s.other),
        tuple((c.name, c.type, c.hook, c.priority, c.policy) for c in table.chains),
        table.other + tuple(o for s in table.sets for o in s.other),
    )


def _match(left: object, right: object, op: str = "==") -> dict[str, object]:
    return {"match": {"op": op, "left": left, "right": right}}


_LOCAL_RETURN: Final = Rule.of(
    "fib daddr type local return",
    [_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"), {"return": None}],
)


def _set_return(family: Family, slot: int) -> Rule:
    # Written with the set's name in `slot`; identified by its slot-0 name, as the listing
    # reads it (listing.slot_blind): the rule does the same whichever slot it looks up.
    protocol, name = _PROTOCOL[family], set_name(family)
    daddr = {"payload": {"protocol": protocol, "field": "daddr"}}
    return Rule.of(
        f"{protocol} daddr @{set_name(family, slot)} return",
        [_match(daddr, f"@{name}"), {"return": None}],
    )


def _masquerade_rules(family: Family, masquerade: Masquerade) -> list[Rule]:
    """Masquerade for one family; several `--to-ports` ranges drawn with size-weighted odds.

    Range i is taken with probability size_i / (sizes of ranges i..n) given the earlier ones were
    not: overall each range is chosen in proportion to its size, as the iptables backend's
    `statistic` rules do. The last range needs no draw. Other protocols (ICMP) have no ports and
    fall through to the plain masquerade.
    """
    scope = f"meta nfproto {family}"
    scope_expr = _match({"meta": {"key": "nfproto"}}, family)
    flags = " fully-random" if masquerade.random_fully else ""
    flags_expr = {"flags": "fully-random"} if masquerade.random_fully else {}
    protocols = "meta l4proto { " + ", ".join(PORT_PROTOCOLS) + " }"
    protocols_expr = _match({"meta": {"key": "l4proto"}}, {"set": list(PORT_PROTOCOLS)})
    rules: list[Rule] = []
    remaining = sum(r.size for r in masquerade.to_ports)
    for ports in masquerade.to_ports:
        expr: list[object] = [scope_expr, protocols_expr]
        draw = ""
        if ports.size != remaining:
            draw = f" numgen random mod {remaining} < {ports.size}"
            numgen = {"numgen": {"mode": "random", "mod": remaining, "offset": 0}}
            expr.append(_match(numgen, ports.size, "<"))
        single = ports.first == ports.last
        text = str(ports.first) if single else f"{ports.first}-{ports.last}"
        port: object = ports.first if single else {"range": [ports.first, ports.last]}
        expr.append({"masquerade": {"port": port, **flags_expr}})
        rules.append(Rule.of(f"{scope} {protocols}{draw} masquerade to :{text}{flags}", expr))
        remaining -= ports.size
    last = {"masquerade": flags_expr or None}
    rules.append(Rule.of(f"{scope} masquerade{flags}", [scope_expr, last]))
    return rules


def _interval_set(rules: FamilyRules, texts: ElementTexts | None) -> IntervalSet:
    # Merged (PrefixSet: the one interval merge): nft interval sets refuse overlapping
    # elements, and merged ones are listed back exactly as written.
    family = rules.family
    spans = PrefixSet(rules.non_masquerade).intervals(_VERSION[family])
    name, address_type = set_name(family), ADDRESS_TYPE[family]
    unrendered = IntervalSet(name, address_type, ("interval",), spans)
    text = elements_text(unrendered) if texts is None else texts.join(spans, _VERSION[family])
    return IntervalSet(name, address_type, ("interval",), spans, text)


def elements_text(nft_set: IntervalSet) -> str:
    """A set's elements as nft writes them between braces, joined; "" when there are none."""
    if nft_set.text or not nft_set.elements:
        return nft_set.text
    family = nft_set.family
    return ", ".join(element_text(first, last, family) for first, last in nft_set.elements)


def desired_sets(
    desired: DesiredRules, texts: ElementTexts | None = None
) -> tuple[IntervalSet, ...]:
    """Each family's set for `desired`, in slot 0: the costly part of a table (merge, text);
    `texts` keeps the element texts of the last render for the next."""
    return tuple(_interval_set(f, texts) for f in desired.families)


def desired_table(
    desired: DesiredRules,
    name: str,
    *,
    slot: int = 0,
    sets: tuple[IntervalSet, ...] | None = None,
) -> Table:
    """The table that makes `desired` true: a set per family, one srcnat postrouting chain.

    Upstream's `-m addrtype ! --dst-type LOCAL` first (the node's own addresses are not
    NATed), then each family's set, then the masquerades. Its sets are in `slot`; `sets`,
    when given, are `desired_sets(desired)` already built.
    """
    rules = [_LOCAL_RETURN]
    rules.extend(_set_return(family.family, slot) for family in desired.families)
    for family in desired.families:
        rules.extend(_masquerade_rules(family.family, family.masquerade))
    chain = Chain(CHAIN, "nat", CHAIN, 100, "accept", tuple(rules))
    built = desired_sets(desired) if sets is None else sets
    slotted = tuple(replace(s, slot=slot) for s in built)
    return Table(name, slotted, (chain,), lookups=frozenset(s.kernel_name for s in slotted))


def orphans(table: Table) -> tuple[IntervalSet, ...]:
    """Sets no rule looks up while the other slot of the same set is looked up: what a swap
    cut short between its transactions leaves (script.swap_scripts), and deletes first."""
    acting = {s.name for s in table.sets if s.kernel_name in table.lookups}
    return tuple(s for s in table.sets if s.kernel_name not in table.lookups and s.name in acting)


def without(table: Table, sets: tuple[IntervalSet, ...]) -> Table:
    """`table` less `sets` (compared as kernel names)."""
    gone = {s.kernel_name for s in sets}
    kept = tuple(s for s in table.sets if s.kernel_name not in gone)
    return Table(table.name, kept, table.chains, table.other, table.lookups)


def slot_in_use(table: Table) -> int | None:
    """The one slot every set of `table` is in; None when they are in both."""
    slots = {nft_set.slot for nft_set in table.sets}
    if not slots:
        return 0
    return slots.pop() if len(slots) == 1 else None


def view(table: Table | None) -> str:
    """A table as one comparable line; equal lines mean equal tables ("" for no table).

    Rules show as their JSON expression (their identity); elements as nft writes them.
    """
    if table is None:
        return ""
    parts = [f"table inet {table.name} {{"]
    for nft_set in table.sets:
        elements = elements_text(nft_set)
        parts.append(f"set {nft_set.name} {{ type {nft_set.type} flags {','.join(nft_set.flags)}")
        parts.append(f"elements = {{ {elements} }}" if elements else "")
        parts.extend([*nft_set.other, "}"])
    for chain in table.chains:
        parts.append(
            f"chain {chain.name} {{ type {chain.type} hook {chain.hook}"
            f" priority {chain.priority}; policy {chain.policy};"
        )
        parts.extend(rule.expr for rule in chain.rules)
        parts.append("}")
    parts.extend([*table.other, "}"])
    return " ".join(part for part in parts if part)
