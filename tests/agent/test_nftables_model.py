"""The typed nftables model: built from a plan, written as scripts, read back from `nft -j`."""

import ipaddress
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.backends.nftables.listing import ListingError, parse_listing, unreadable
from ip_masq_agent.backends.nftables.model import (
    Table,
    desired_table,
    element_text,
    skeleton,
    view,
)
from ip_masq_agent.backends.nftables.script import definition, update_script
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


def test_in_place_update_refills_every_set_and_the_chain_and_nothing_else() -> None:
    table = _table("dual-stack", "t1")
    lines = update_script(table).splitlines()
    assert lines[:4] == [
        "flush set inet t1 nomasq_ipv4",
        "add element inet t1 nomasq_ipv4 { 10.0.0.0/8, 169.254.0.0/16, 192.168.0.0/16 }",
        "flush set inet t1 nomasq_ipv6",
        "add element inet t1 nomasq_ipv6 { fd00::/8, fe80::/10 }",
    ]
    assert lines[4] == "flush chain inet t1 postrouting"
    # The same rules the table's definition holds, in the same order.
    table_rules = [
        line.strip()
        for line in definition(table, sets=False).splitlines()
        if line.startswith("\t\t") and "postrouting priority" not in line
    ]
    assert table_rules[0] == "fib daddr type local return"
    assert lines[5:] == [f"add rule inet t1 postrouting {rule}" for rule in table_rules]


def test_creation_in_two_steps_writes_sets_then_the_chain() -> None:
    table = _table("dual-stack")
    sets_only, chain_only = definition(table, chains=False), definition(table, sets=False)
    assert "chain" not in sets_only and "nomasq_ipv6 {" in sets_only
    assert "set " not in chain_only and "chain postrouting {" in chain_only


def _listing(*objects: dict[str, object]) -> str:
    meta = {"metainfo": {"version": "1.0.6", "json_schema_version": 1}}
    table = {"table": {"family": "inet", "name": "ip-masq-agent", "handle": 7}}
    return json.dumps({"nftables": [meta, table, *objects]})


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
        body = {"family": "inet", "name": nft_set.name, "table": table.name, "handle": handle}
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
            body = {"chain": chain.name, "handle": handle, "expr": json.loads(rule.expr)}
            objects.append({"rule": body | {"family": "inet", "table": table.name}})
    return _listing(*objects)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_listing_of_the_desired_table_parses_to_it(case: Case) -> None:
    table = desired_table(case.desired(), "ip-masq-agent")
    listed = parse_listing(_as_listed(table))
    assert listed == table
    assert view(listed) == view(table)


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
