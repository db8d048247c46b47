"""The typed nftables model: built from a plan, written as scripts, read back from `nft -j`."""

import ipaddress
import itertools
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.backends.nftables.element_texts import ElementTexts
from ip_masq_agent.backends.nftables.listing import (
    ListingError,
    parse_listing,
    slot_blind,
    unreadable,
)
from ip_masq_agent.backends.nftables.model import (
    Table,
    desired_sets,
    desired_table,
    element_text,
    orphans,
    skeleton,
    slot_in_use,
    view,
    without,
)
from ip_masq_agent.backends.nftables.names import set_name, slot_of
from ip_masq_agent.backends.nftables.script import definition, swap_scripts
from ip_masq_agent.prefixes import Prefix
from ip_masq_agent.rules import DesiredRules, Family, FamilyRules, Masquerade

from .nftables_cases import CASES, Case


def _table(case_id: str, name: str = "ip-masq-agent") -> Table:
    return desired_table(next(c for c in CASES if c.id == case_id).desired(), name)


def test_skeleton_ignores_elements_and_rules_but_not_the_layout() -> None:
    # Other CIDRs and other masquerade rules: the same sets and chain, so updated in place.
    assert skeleton(_table("defaults")) == skeleton(_table("to-ports-three-ranges-not-random"))
    assert skeleton(_table("dual-stack")) == skeleton(_table("masq-link-local-both"))
    # A family more is another layout: the table is replaced whole.
    assert skeleton(_table("defaults")) != skeleton(_table("dual-stack"))
    assert skeleton(_table("defaults")).chains == (
        ("postrouting", "nat", "postrouting", 100, "accept"),
    )


def test_a_swap_makes_the_sets_in_the_other_slot_then_points_the_chain_at_them() -> None:
    current = _table("dual-stack", "t1")
    table = desired_table(next(c for c in CASES if c.id == "dual-stack").desired(), "t1", slot=1)
    made, swapped = (script.splitlines() for script in swap_scripts(table, current))
    # First transaction: the new sets, elements and all; nothing else.
    assert [line for line in made if "set" in line] == [
        "add set inet t1 nomasq_ipv4_b {",
        "add set inet t1 nomasq_ipv6_b {",
    ]
    assert "\t\telements = { 10.0.0.0/8, 169.254.0.0/16, 192.168.0.0/16 }" in made
    assert "\t\telements = { fd00::/8, fe80::/10 }" in made
    assert not any("chain" in line or "rule" in line for line in made)
    # Second: the chain refilled with the table's rules, looking up the new sets, then the
    # old sets go.
    table_rules = [
        line.strip()
        for line in definition(table, sets=False).splitlines()
        if line.startswith("\t\t") and "postrouting priority" not in line
    ]
    assert table_rules[:3] == [
        "fib daddr type local return",
        "ip daddr @nomasq_ipv4_b return",
        "ip6 daddr @nomasq_ipv6_b return",
    ]
    assert swapped == [
        "flush chain inet t1 postrouting",
        *(f"add rule inet t1 postrouting {rule}" for rule in table_rules),
        "delete set inet t1 nomasq_ipv4",
        "delete set inet t1 nomasq_ipv6",
    ]


def test_a_set_s_slot_changes_its_kernel_name_but_not_the_table() -> None:
    plan = next(c for c in CASES if c.id == "dual-stack").desired()
    first, second = desired_table(plan, "t", slot=0), desired_table(plan, "t", slot=1)
    assert [s.kernel_name for s in second.sets] == ["nomasq_ipv4_b", "nomasq_ipv6_b"]
    assert first == second and view(first) == view(second)
    assert skeleton(first) == skeleton(second)
    assert (slot_in_use(first), slot_in_use(second)) == (0, 1)
    assert slot_of("nomasq_ipv6_b") == (set_name("ipv6"), 1)
    assert slot_of("nomasq_ipv4") == ("nomasq_ipv4", 0)
    assert slot_of("other_b") == ("other_b", 0)  # not ours: its own name


def test_element_texts_are_reused_from_the_last_render_and_match_a_fresh_one() -> None:
    texts = ElementTexts()
    plans = [c.desired() for c in CASES]
    for plan in [*plans, *plans]:
        assert desired_sets(plan, texts) == desired_sets(plan)
        for kept, fresh in zip(desired_sets(plan, texts), desired_sets(plan), strict=True):
            assert kept.text == fresh.text


def test_creation_in_two_steps_writes_sets_then_the_chain() -> None:
    table = _table("dual-stack")
    sets_only, chain_only = definition(table, chains=False), definition(table, sets=False)
    assert "chain" not in sets_only and "nomasq_ipv6 {" in sets_only
    assert "set " not in chain_only and "chain postrouting {" in chain_only


def _listing(*objects: dict[str, object]) -> str:
    meta = {"metainfo": {"version": "1.0.6", "json_schema_version": 1}}
    table = {"table": {"family": "inet", "name": "ip-masq-agent", "handle": 7}}
    return json.dumps({"nftables": [meta, table, *objects]})


def _looking_up(expr: object, names: dict[str, str]) -> object:
    """A rule's expression as the kernel holds it: set lookups by the sets' kernel names."""
    if isinstance(expr, str) and expr.startswith("@"):
        return "@" + names.get(expr[1:], expr[1:])
    if isinstance(expr, list):
        return [_looking_up(item, names) for item in expr]
    if isinstance(expr, dict):
        return {key: _looking_up(item, names) for key, item in expr.items()}
    return expr


def _as_listed(table: Table) -> str:
    """What `nft -j list table` prints for `table`, as the kernel tests saw it (handles too)."""
    objects: list[dict[str, object]] = []
    for handle, nft_set in enumerate(table.sets):
        elements: list[object] = [
            {"prefix": {"addr": text.split("/")[0], "len": int(text.split("/")[1])}}
            if "/" in text
            else {"range": text.split("-")}
            for text in (element_text(a, b, nft_set.family) for a, b in nft_set.elements)
        ]
        body: dict[str, object] = {"family": "inet", "name": nft_set.kernel_name}
        body |= {"table": table.name, "handle": handle}
        body |= {"type": nft_set.type, "flags": list(nft_set.flags)}
        objects.append({"set": body | ({"elem": elements} if elements else {})})
    for chain in table.chains:
        objects.append(
            {
                "chain": {"family": "inet", "table": table.name, "name": chain.name}
                | {"type": chain.type, "hook": chain.hook, "prio": chain.priority}
                | {"policy": chain.policy, "handle": 1}
            }
        )
        for handle, rule in enumerate(chain.rules, start=9):
            expr = _looking_up(json.loads(rule.expr), {slot_of(k)[0]: k for k in table.lookups})
            listed = {"chain": chain.name, "handle": handle, "expr": expr}
            objects.append({"rule": listed | {"family": "inet", "table": table.name}})
    return _listing(*objects)


@pytest.mark.parametrize("slot", [0, 1])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_listing_of_the_desired_table_parses_to_it(case: Case, slot: int) -> None:
    table = desired_table(case.desired(), "ip-masq-agent", slot=slot)
    listed = parse_listing(_as_listed(table))
    assert listed == table
    assert view(listed) == view(table) == view(desired_table(case.desired(), "ip-masq-agent"))
    assert slot_in_use(listed) == slot


def test_a_listing_with_a_set_in_both_slots_is_not_the_desired_table() -> None:
    table = _table("defaults")
    stray = replace(table.sets[0], slot=1)
    both = Table(table.name, (*table.sets, stray), table.chains, lookups=table.lookups)
    listed = parse_listing(_as_listed(both))
    assert slot_in_use(listed) is None
    assert skeleton(listed) != skeleton(table) and view(listed) != view(table)
    # The chain looks up slot 0: the slot-1 set is the stray a cut-short swap leaves.
    assert listed.lookups == {"nomasq_ipv4"}
    assert [s.kernel_name for s in orphans(listed)] == ["nomasq_ipv4_b"]
    acting = without(listed, orphans(listed))
    assert acting == table and slot_in_use(acting) == 0
    assert orphans(table) == ()  # nothing stray in a table built from a plan


def test_a_lookup_of_either_slot_reads_as_the_set_s_own_name() -> None:
    lookup = {"match": {"op": "==", "left": "x", "right": "@nomasq_ipv6_b"}}
    assert slot_blind([lookup, "@elsewhere_b"]) == [
        {"match": {"op": "==", "left": "x", "right": "@nomasq_ipv6"}},
        "@elsewhere_b",
    ]


def test_listing_forms_of_one_address_and_what_we_never_write() -> None:
    body = {"name": "nomasq_ipv4", "type": "ipv4_addr", "flags": ["interval"]}
    one = parse_listing(_listing({"set": body | {"elem": ["10.1.1.1"]}}))
    assert one.sets[0].elements == ((0x0A010101, 0x0A010101),)
    assert "elements = { 10.1.1.1/32 }" in view(one)
    odd = parse_listing(_listing({"set": body | {"elem": [{"elem": {"val": "10.1.1.1"}}]}}))
    assert odd.sets[0].elements == () and odd.sets[0].other
    assert skeleton(odd) != skeleton(one)
    extra = parse_listing(_listing({"map": {"name": "m", "type": "ipv4_addr", "map": "verdict"}}))
    assert extra.other and view(extra) != view(parse_listing(_listing()))
    with pytest.raises(ListingError):
        parse_listing("table inet ip-masq-agent {}")


def _oracle(cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[tuple[int, int]]:
    """The stdlib's collapse, then adjacent blocks joined: what a set must hold."""
    spans: list[tuple[int, int]] = []
    for block in ipaddress.collapse_addresses(cidrs):  # type: ignore[type-var]
        first, last = int(block.network_address), int(block.broadcast_address)
        if spans and first == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], last)
        else:
            spans.append((first, last))
    return spans


def _networks(bits: int) -> st.SearchStrategy[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return st.builds(
        lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
        st.integers(0, 2**bits - 1),
        st.integers(max(0, bits - 24), bits),
    )


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.lists(_networks(32), max_size=12), st.lists(_networks(128), max_size=12)))
def test_a_set_keeps_every_address_and_adds_none(
    cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    version = cidrs[0].version if cidrs else 4
    cidrs = [c for c in cidrs if c.version == version]
    family: Family = "ipv4" if version == 4 else "ipv6"
    prefixes = tuple(Prefix.parse(c.with_prefixlen) for c in cidrs)
    plan = DesiredRules("X", (FamilyRules(family, prefixes, Masquerade()),))
    merged = list(desired_table(plan, "t").sets[0].elements)
    assert merged == _oracle(cidrs)
    for (_, last), (first, _) in itertools.pairwise(merged):
        assert first > last + 1  # sorted, disjoint, not even adjacent


@pytest.mark.parametrize(
    ("span", "family", "text"),
    [
        ((0x0A000000, 0x0AFFFFFF), "ipv4", "10.0.0.0/8"),
        ((0x0A000100, 0x0A0002FF), "ipv4", "10.0.1.0-10.0.2.255"),
        ((0xC0A80101, 0xC0A80101), "ipv4", "192.168.1.1/32"),
        ((0, 2**32 - 1), "ipv4", "0.0.0.0/0"),
        ((0xFD << 120, (0xFE << 120) - 1), "ipv6", "fd00::/8"),
    ],
    ids=["cidr", "range", "host", "everything", "ipv6"],
)
def test_element_text(span: tuple[int, int], family: Family, text: str) -> None:
    assert element_text(*span, family) == text


def test_a_table_flag_or_an_unreadable_listing_is_never_the_desired_table() -> None:
    table = {"family": "inet", "name": "ip-masq-agent", "handle": 7, "flags": ["dormant"]}
    dormant = parse_listing(json.dumps({"nftables": [{"table": table}]}))
    assert dormant.other and view(dormant) != view(parse_listing(_listing()))
    broken = unreadable("ip-masq-agent", "Expecting value")
    assert skeleton(broken) != skeleton(_table("defaults"))
    assert "unreadable listing" in view(broken)
