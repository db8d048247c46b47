"""The kernel's table read into the model: `nft -j list table` parsed by the json module.

nft's JSON names every object and expression, so nothing here depends on how nft wraps,
indents or abbreviates its text. Anything we never write (another element form, a map, a
rule of someone else's) is kept as canonical JSON in the model, so it is a difference.
"""

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from ip_masq_agent.backends.nftables.model import (
    CHAIN,
    Chain,
    IntervalSet,
    Rule,
    Table,
    address_value,
    canonical_json,
)
from ip_masq_agent.backends.nftables.names import TABLE_MARKER, slot_of
from ip_masq_agent.intervals import Interval
from ip_masq_agent.rules import Family

# nft's JSON describes the objects it lists; these keys are only where they are (handles).
_UNSTABLE: Final = frozenset({"handle", "family", "table"})


class ListingError(ValueError):
    """The listing is not the JSON `nft -j` writes."""


def _bits(family: Family) -> int:
    return 32 if family == "ipv4" else 128


def _interval(element: object, family: Family) -> Interval | None:
    """One JSON set element as an interval; None for a form we never write."""
    try:
        if isinstance(element, str):
            value = address_value(element, family)
            return Interval(value, value)
        if isinstance(element, dict) and "prefix" in element:
            prefix = element["prefix"]
            first, length = address_value(prefix["addr"], family), int(prefix["len"])
            return Interval(first, first + (1 << (_bits(family) - length)) - 1)
        if isinstance(element, dict) and "range" in element:
            low, high = element["range"]
            return Interval(address_value(low, family), address_value(high, family))
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return None


def _set(body: Mapping[str, Any]) -> IntervalSet:
    flags = body.get("flags", [])
    name, slot = slot_of(str(body["name"]))
    nft_set = IntervalSet(
        name,
        str(body["type"]),
        tuple(flags) if isinstance(flags, list) else (str(flags),),
        (),
    )
    family = nft_set.family
    elements: list[Interval] = []
    other: list[str] = []
    for element in body.get("elem", ()):
        interval = _interval(element, family)
        if interval is None:
            other.append(canonical_json(element))
        else:
            elements.append(interval)
    known = {"name", "type", "flags", "elem", *_UNSTABLE}
    other.extend(canonical_json({k: v}) for k, v in sorted(body.items()) if k not in known)
    return IntervalSet(
        name, nft_set.type, nft_set.flags, tuple(elements), other=tuple(other), slot=slot
    )


def lookups(value: object) -> Iterator[str]:
    """The sets a rule's JSON expression looks up (`@name`), as the kernel names them."""
    if isinstance(value, str) and value.startswith("@"):
        yield value[1:]
    elif isinstance(value, list):
        for item in value:
            yield from lookups(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from lookups(item)


def slot_blind(value: object) -> object:
    """A rule's JSON expression with our sets named by their slot-0 name (model.IntervalSet).

    Which slot a rule looks up is kept apart (Table.lookups); a table with both slots of a
    set shows two sets of one name, which no desired table has, so the rule's own identity
    loses no difference that matters.
    """
    if isinstance(value, str) and value.startswith("@"):
        return "@" + slot_of(value[1:])[0]
    if isinstance(value, list):
        return [slot_blind(item) for item in value]
    if isinstance(value, dict):
        return {key: slot_blind(item) for key, item in value.items()}
    return value


def _chain(body: Mapping[str, Any], rules: list[Rule]) -> Chain:
    return Chain(
        str(body["name"]),
        str(body.get("type", "")),
        str(body.get("hook", "")),
        int(body.get("prio", 0)),
        str(body.get("policy", "")),
        tuple(rules),
    )


def unreadable(name: str, error: str) -> Table:
    """A table that is there but that nft lists as no JSON we can read (nft 1.0.6 writes a
    dormant table's flags as broken JSON): never the desired table, so it is replaced whole."""
    return Table(name, (), (), (f"unreadable listing: {error}",))


def parse_listing(text: str) -> Table:
    """`nft -j list table inet NAME` output as a Table; ListingError when it is not one."""
    try:
        objects = json.loads(text)["nftables"]
        name = next(o["table"]["name"] for o in objects if "table" in o)
    except (ValueError, KeyError, TypeError, StopIteration) as error:
        raise ListingError(f"not an nft -j table listing: {error}") from None
    sets: list[IntervalSet] = []
    chains: list[Mapping[str, Any]] = []
    rules: dict[str, list[Rule]] = {}
    looked_up: set[str] = set()
    other: list[str] = []
    for entry in objects:
        (kind, body), *more = entry.items()
        if kind == "metainfo" and not more:
            continue
        if kind == "table" and not more:
            # A flag (`dormant` turns the table off) or a comment JSON shows is the table's.
            extra = {k: v for k, v in body.items() if k not in {"name", *_UNSTABLE}}
            other.extend([canonical_json({"table": extra})] if extra else [])
            continue
        if kind == "set" and not more and "type" in body:
            sets.append(_set(body))
        elif kind == "chain" and not more:
            chains.append(body)
            known = {"name", "type", "hook", "prio", "policy", *_UNSTABLE}
            extra = {k: v for k, v in body.items() if k not in known}
            other.extend([canonical_json({"chain": body["name"]} | extra)] if extra else [])
        elif kind == "rule" and not more:
            extra = {k: v for k, v in body.items() if k not in {"expr", "chain", *_UNSTABLE}}
            looked_up.update(lookups(body.get("expr")))
            rule = Rule(canonical_json(slot_blind(body.get("expr"))))
            rules.setdefault(str(body["chain"]), []).append(rule)
            if extra:
                other.append(canonical_json(extra))
        else:
            other.append(canonical_json({k: _stable(v) for k, v in entry.items()}))
    built = tuple(_chain(body, rules.get(str(body["name"]), [])) for body in chains)
    return Table(str(name), tuple(sets), built, tuple(other), frozenset(looked_up))


def _stable(value: object) -> object:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in _UNSTABLE}
    return value


# `nft list table` text (not JSON: nft 1.0.6 leaves a table's comment out of its JSON).
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


def is_marked(listing: str) -> bool:
    """Whether `nft list table` output carries our marker comment."""
    return f'comment "{TABLE_MARKER}"' in listing


def is_our_table(listing: str) -> bool:
    """Whether `nft list table` output (nft's text) is a table this agent wrote.

    Marked, or exactly what versions before the marker wrote (migration): only the sets
    `nomasq_ipv4`, `nomasq_ipv6` and the chain `postrouting` starting with our
    local-destination rule.
    """
    if is_marked(listing):
        return True
    objects = {(kind, name) for kind, name in _OBJECT.findall(listing)}
    return (
        ("chain", CHAIN) in objects
        and objects <= _UNMARKED_OBJECTS
        and _UNMARKED_CHAIN_START in listing
    )
