"""The nftables script: goldens compared whole, structural invariants, CIDR merging."""

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.config import Network
from ip_masq_agent.nftables_payload import (
    merge_cidrs,
    render_nftables_cleanup,
    render_nftables_payload,
)
from ip_masq_agent.rules import DesiredRules, FamilyRules, Masquerade, PortRange

from .nftables_cases import CASES, Case


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


def _covered(network: Network, cidrs: list[Network]) -> bool:
    """Every address of `network` lies in some input: merging added nothing."""
    same = [c for c in cidrs if c.version == network.version]
    if any(network.subnet_of(c) for c in same):  # type: ignore[arg-type]
        return True
    if network.prefixlen == network.max_prefixlen:
        return False
    return all(_covered(half, cidrs) for half in network.subnets())


networks_v4 = st.builds(
    lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
networks_v6 = st.builds(
    lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(networks_v4, networks_v6), max_size=12))
def test_merging_keeps_every_address_and_leaves_no_overlap(cidrs: list[Network]) -> None:
    merged = merge_cidrs(cidrs)
    for network in cidrs:
        assert any(
            network.version == m.version and network.subnet_of(m)  # type: ignore[arg-type]
            for m in merged
        )
    for m in merged:
        assert _covered(m, cidrs)
    for index, a in enumerate(merged):
        for b in merged[index + 1 :]:
            assert a.version != b.version or not a.overlaps(b)
