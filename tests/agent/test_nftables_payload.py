"""The nftables script: goldens compared whole, structural invariants."""

import re
from pathlib import Path

import pytest

from ip_masq_agent.cli import main
from ip_masq_agent.nftables_payload import render_nftables_cleanup, render_nftables_payload
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
