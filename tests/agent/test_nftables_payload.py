"""The nftables script: goldens compared whole, structural invariants, CIDR merging."""

import ipaddress
import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.cli import main
from ip_masq_agent.nftables_payload import (
    element_text,
    merge_ranges,
    render_nftables_cleanup,
    render_nftables_payload,
    render_nftables_update,
    render_table_definition,
    table_skeleton,
)
from ip_masq_agent.prefixes import Prefix
from ip_masq_agent.rules import DesiredRules, Family, FamilyRules, Masquerade, PortRange

from .nftables_cases import CASES, Case

# The oracle's side speaks the stdlib's types.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden_payload(case: Case) -> None:
    assert render_nftables_payload(case.desired()) == case.golden.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_referenced_set_is_defined_and_masquerade_is_last(case: Case) -> None:
    text = render_nftables_payload(case.desired())
    defined = set(re.findall(r"^\tset (\S+) \{", text, re.M))
    referenced = set(re.findall(r"@(\S+)", text))
    assert referenced == defined
    rules = re.findall(r"^\t\t(?!type )(.+)$", text, re.M)
    rules = [r for r in rules if not r.startswith(("flags", "elements"))]
    assert rules[0] == "fib daddr type local return"
    verdicts = ["masquerade" in r for r in rules]
    # All returns first, then only masquerades; each family ends on an unconditional one.
    assert verdicts == sorted(verdicts)
    for family_rules in case.desired().families:
        scope = f"meta nfproto {family_rules.family}"
        last = [r for r in rules if r.startswith(scope)][-1]
        assert last.removesuffix(" fully-random") == f"{scope} masquerade"


def test_script_replaces_the_whole_table_in_one_file() -> None:
    text = render_nftables_payload(CASES[0].desired(), table="t1")
    assert text.splitlines()[:3] == ["table inet t1 {}", "delete table inet t1", "table inet t1 {"]
    assert render_nftables_cleanup(table="t1") == "table inet t1 {}\ndelete table inet t1\n"


def test_skeleton_ignores_elements_and_rules_but_not_the_layout() -> None:
    by_id = {case.id: case.desired() for case in CASES}

    def skeleton(case_id: str) -> str:
        return table_skeleton(render_table_definition(by_id[case_id]))

    # Other CIDRs and other masquerade rules: the same sets and chain, so updated in place.
    assert skeleton("defaults") == skeleton("to-ports-three-ranges-not-random")
    assert skeleton("dual-stack") == skeleton("masq-link-local-both")
    assert "elements" not in skeleton("dual-stack") and "masquerade" not in skeleton("dual-stack")
    # A family more is another layout: the table is replaced whole.
    assert skeleton("defaults") != skeleton("dual-stack")
    assert skeleton("defaults").endswith("policy accept; } }")


def test_in_place_update_refills_every_set_and_the_chain_and_nothing_else() -> None:
    desired = next(case for case in CASES if case.id == "dual-stack").desired()
    lines = render_nftables_update(desired, table="t1").splitlines()
    assert lines[:4] == [
        "flush set inet t1 nomasq_ipv4",
        "add element inet t1 nomasq_ipv4 { 10.0.0.0/8, 169.254.0.0/16, 192.168.0.0/16 }",
        "flush set inet t1 nomasq_ipv6",
        "add element inet t1 nomasq_ipv6 { fd00::/8, fe80::/10 }",
    ]
    assert lines[4] == "flush chain inet t1 postrouting"
    table_rules = [
        line.strip()
        for line in render_table_definition(desired, table="t1").splitlines()
        if line.startswith("\t\t") and "postrouting priority" not in line
    ]
    chain_rules = table_rules[table_rules.index("fib daddr type local return") :]
    assert lines[5:] == [f"add rule inet t1 postrouting {rule}" for rule in chain_rules]


def test_ipv4_only_plan_leaves_ipv6_alone() -> None:
    text = render_nftables_payload(CASES[0].desired())
    assert "ipv6" not in text and "ip6" not in text


def test_port_ranges_are_drawn_in_proportion_to_their_size() -> None:
    ranges = (PortRange(1000, 1999), PortRange(5000, 5000), PortRange(6000, 8999))
    desired = DesiredRules(
        "X", (FamilyRules("ipv4", (), Masquerade(random_fully=True, to_ports=ranges)),)
    )
    draws = re.findall(r"numgen random mod (\d+) < (\d+)", render_nftables_payload(desired))
    total = sum(r.size for r in ranges)
    not_taken = 1.0
    # The last range takes whatever is left: no draw, probability 1.
    odds = [int(below) / int(modulus) for modulus, below in draws] + [1.0]
    for conditional, port_range in zip(odds, ranges, strict=True):
        assert not_taken * conditional == pytest.approx(port_range.size / total)
        not_taken *= 1 - conditional


def _oracle(cidrs: list[Network]) -> list[tuple[int, int]]:
    """The stdlib's collapse, then adjacent blocks joined: what merge_ranges must return."""
    spans: list[tuple[int, int]] = []
    for block in ipaddress.collapse_addresses(cidrs):  # type: ignore[type-var]
        first, last = int(block.network_address), int(block.broadcast_address)
        if spans and first == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], last)
        else:
            spans.append((first, last))
    return spans


def _networks(bits: int) -> st.SearchStrategy[Network]:
    return st.builds(
        lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
        st.integers(0, 2**bits - 1),
        st.integers(max(0, bits - 24), bits),
    )


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.lists(_networks(32), max_size=12), st.lists(_networks(128), max_size=12)))
def test_merging_keeps_every_address_and_adds_none(cidrs: list[Network]) -> None:
    cidrs = [c for c in cidrs if c.version == (cidrs[0].version if cidrs else 4)]
    merged = merge_ranges(Prefix.parse(c.with_prefixlen) for c in cidrs)
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


def _flags(case: Case) -> list[str]:
    flags = ["--enable-ipv6"] if case.enable_ipv6 else []
    if not case.masquerade.random_fully:
        flags.append("--random-fully=false")
    if case.masquerade.to_ports:
        spans = [
            str(r.first) if r.first == r.last else f"{r.first}-{r.last}"
            for r in case.masquerade.to_ports
        ]
        flags.append(f"--to-ports={','.join(spans)}")
    return flags


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_render_prints_the_golden(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    config.write_text(case.config)
    # nftables rendering runs no tool: safe outside a lab namespace.
    assert main(["render", "--backend=nftables", f"--config={config}", *_flags(case)]) == 0
    assert capsys.readouterr().out == case.golden.read_text()
