"""Benchmark 7's table: a config edit by stage beside the tool's floor, with the goals (pure)."""

from collections.abc import Sequence
from typing import Any

from testbed.bench.verdict import verdict
from testbed.bench.workload import median

Record = dict[str, Any]
STAGES = ("load", "plan", "render", "write", "verify")
# Why a 50,000-CIDR row is refused (measured on this machine kind, 2026-12-06, one family):
# the limit is the backend's (`config_bounds.limit_for`), and the ConfigMap's size is Kubernetes'.
REFUSED_NOTE = (
    "A refused row is the agent's own refusal, by design. The iptables backends plan at most"
    " 20,000 CIDRs: at 50,000 IPv4 CIDRs iptables-nft peaks at ~125 MiB and takes ~6 s an edit"
    " (3.7 s of it iptables-save and its parse); nftables accepts 50,000 (a set element each,"
    " ~118 MiB peak with nft, under the DaemonSet's 160Mi). A ConfigMap holds 1 MiB, so 50,000"
    " fits only as one family: 50,000 IPv6 CIDRs are refused for their size on every backend."
)


def stages_section(records: Sequence[Record]) -> list[str]:
    lines = [
        "## 7. A config edit by stage",
        "",
        "`testbed.bench.stages` in a node namespace (Debian python3): the list put in, then"
        " one-CIDR edits through the agent's own stages: load (`parse_config` with the agent's CIDR"
        " memo), plan, render (expected view and scripts), write (the tool's run), verify (the"
        " look proving the write). The floor is the tool alone applying the last edit's very"
        " payload again, onto the kernel as that edit found it (nftables: both transactions,"
        " new sets then the chain pointed at them). Medians, in seconds; *own* is everything"
        " but the write, and the ratio is the agent's total to the floor.",
        "",
        "| backend | family | CIDRs | load | plan | render | write | verify | total | floor"
        " | own | total / floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    goals: list[str] = []
    for record in records:
        head = f"| {record['backend']} | {record['family']} | {record['cidrs']:,} |"
        if "refused" in record:
            lines.append(f"{head} refused: {record['refused']} |" + " |" * 9)
            continue
        stages = {name: median(record["stages"][name]) for name in (*STAGES, "total")}
        total, floor = stages["total"], record["floor"]
        cells = " | ".join(f"{stages[name]:.3f}" for name in (*STAGES, "total"))
        own = total - stages["write"]
        lines.append(f"{head} {cells} | {floor:.3f} | {own:.3f} | {total / floor:.2f} |")
        where = f"{record['backend']} {record['family']} {record['cidrs']:,}"
        if record["backend"] == "nftables" and record["cidrs"] in (10000, 50000):
            goal = 0.3 if record["cidrs"] == 10000 else 1.0
            goals.append(f"- {where}: total under {goal} s: {verdict(total < goal)}")
        elif record["backend"] == "iptables-nft":
            goals.append(f"- {where}: within 1.5x the floor: {verdict(total <= 1.5 * floor)}")
    if any("refused" in record for record in records):
        lines += ["", REFUSED_NOTE]
    return [*lines, "", *goals, ""]
