"""Run every benchmark side by side and write docs/benchmarks.md, its JSON and its plot.

`python -m testbed.bench.run` (make bench: < 10 min on 2 cores) or
`python -m testbed.bench.run --quick` (make bench-quick: < 1 min, written under
rendered/bench-quick/ so the committed report stays).
Needs root and network namespaces; every namespace is created and removed by netlab.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.bench.apply_time import run_apply_time
from testbed.bench.edit_stages import run_edit_stages
from testbed.bench.flow_rate import run_flow_rate
from testbed.bench.idle_resync import run_idle_resync
from testbed.bench.reload_latency import run_reload_latency
from testbed.bench.report import plot_flow_rate, render_report
from testbed.bench.versus_upstream import Plan as VersusPlan
from testbed.bench.versus_upstream import carry_upstream_rows, run_versus_upstream
from testbed.bench.workload import BACKENDS
from testbed.netlab.lab import Lab, kernel_lab_unavailable
from testbed.netlab.node_agent import debian_python_argv
from testbed.netlab.upstream import UPSTREAM_ENV, upstream_binary


@dataclass(frozen=True)
class Plan:
    """How much of each benchmark to run."""

    flow_backends: tuple[str, ...]
    flow_sizes: tuple[int, ...]
    flow_runs: int
    flow_seconds: float
    apply_sizes: tuple[int, ...]
    apply_runs: int
    reload_backends: tuple[str, ...]
    reload_edits: int
    idle_cidrs: int
    idle_syncs: int
    versus: VersusPlan
    stage_backends: tuple[str, ...] = ("nftables", "iptables-nft")
    stage_sizes: tuple[int, ...] = (10000, 50000)
    stage_families: tuple[str, ...] = ("ipv4", "ipv6")
    stage_edits: int = 15


FULL = Plan(
    flow_backends=BACKENDS,
    flow_sizes=(1, 1000, 10000),
    flow_runs=5,
    flow_seconds=1.0,
    apply_sizes=(100, 1000, 10000, 50000),
    apply_runs=3,
    reload_backends=BACKENDS,
    reload_edits=50,
    idle_cidrs=10000,
    idle_syncs=1000,
    versus=VersusPlan(
        start_sizes=(64, 10000),
        start_runs=3,
        idle_sizes=(64, 10000),
        idle_seconds=61.0,
        resync="60s",
        resync_seconds=60.0,
        edit_sizes=(64, 1000, 10000),
        edits=20,
        nftables_edit_sizes=(50000,),
    ),
)
QUICK = Plan(
    flow_backends=("iptables-nft", "nftables"),
    flow_sizes=(1, 10000),
    flow_runs=1,
    flow_seconds=0.3,
    apply_sizes=(100, 10000),
    apply_runs=1,
    reload_backends=("nftables",),
    reload_edits=5,
    idle_cidrs=10000,
    idle_syncs=100,
    versus=VersusPlan(
        start_sizes=(64,),
        start_runs=1,
        idle_sizes=(64,),
        idle_seconds=12.0,
        resync="10s",
        resync_seconds=10.0,
        edit_sizes=(64,),
        edits=2,
    ),
    stage_backends=("nftables",),
    stage_sizes=(10000,),
    stage_families=("ipv4",),
    stage_edits=3,
)


def _tool_version(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    return "unknown RAM"


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def import_rss() -> dict[str, float]:
    """VmRSS after each import of the agent's runtime, on Debian's python3 (bench.import_rss)."""
    done = subprocess.run(
        debian_python_argv("testbed.bench.import_rss"), capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


def run_all(plan: Plan, command: str, upstream: Path | None) -> dict[str, Any]:
    started = time.monotonic()
    environment: dict[str, Any] = {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory": _memory(),
        "kernel": platform.release(),
        "nft": _tool_version("nft", "--version"),
        "iptables": _tool_version("iptables", "--version"),
        "python": _tool_version("/usr/bin/python3", "--version"),
        "load_before": _load(),
    }
    results: dict[str, Any] = {"environment": environment}
    with Lab("bench") as lab, tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        print("benchmark 1: new-flow rate", flush=True)
        results["flow_rate"] = run_flow_rate(
            lab,
            backends=plan.flow_backends,
            sizes=plan.flow_sizes,
            runs=plan.flow_runs,
            seconds=plan.flow_seconds,
        )
        print("benchmark 2: apply time", flush=True)
        results["apply_time"] = run_apply_time(
            lab, backends=BACKENDS, sizes=plan.apply_sizes, runs=plan.apply_runs
        )
        print("benchmark 3: config change to kernel", flush=True)
        results["reload"] = run_reload_latency(
            lab, Path(workdir), backends=plan.reload_backends, edits=plan.reload_edits
        )
        print("benchmark 7: a config edit by stage", flush=True)
        results["edit_stages"] = run_edit_stages(
            lab,
            Path(workdir),
            backends=plan.stage_backends,
            sizes=plan.stage_sizes,
            families=plan.stage_families,
            edits=plan.stage_edits,
        )
        print("benchmark 6: beside upstream", flush=True)
        results["versus_upstream"] = run_versus_upstream(lab, upstream, Path(workdir), plan.versus)
        print("benchmarks 4 and 5: idle resync and memory", flush=True)
        results["idle"] = run_idle_resync(
            lab, Path(workdir), backends=BACKENDS, cidrs=plan.idle_cidrs, syncs=plan.idle_syncs
        )
    environment["load_after"] = _load()
    environment["seconds"] = time.monotonic() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the reduced set (< 1 min)")
    parser.add_argument("--out-dir", type=Path, help="default: docs/ (rendered/bench-quick/)")
    parser.add_argument(
        "--report-only", action="store_true", help="re-render from OUT_DIR/benchmarks.json"
    )
    args = parser.parse_args(argv)
    out = args.out_dir or Path("rendered/bench-quick" if args.quick else "docs")
    if args.report_only:
        results = json.loads((out / "benchmarks.json").read_text())
        (out / "benchmarks.md").write_text(render_report(results))
        plot_flow_rate(results["flow_rate"], str(out / "bench_flow_rate.png"))
        return 0
    unavailable = kernel_lab_unavailable()
    if unavailable is not None:
        print(f"bench: cannot run: {unavailable}", file=sys.stderr)
        return 1
    upstream = upstream_binary()
    committed_path = Path("docs/benchmarks.json")
    committed = json.loads(committed_path.read_text()) if committed_path.is_file() else None
    if upstream is None:
        kept = (
            ""
            if committed is None
            else (
                f"; keeping the upstream figures of {committed['environment']['date']}"
                f" from {committed_path}"
            )
        )
        print(f"bench: the upstream rows need the upstream binary ({UPSTREAM_ENV}){kept}")
    out.mkdir(parents=True, exist_ok=True)
    command = "make bench-quick" if args.quick else "make bench"
    results = run_all(QUICK if args.quick else FULL, command, upstream)
    if upstream is None and committed is not None and "versus_upstream" in committed:
        results["versus_upstream"] = carry_upstream_rows(results["versus_upstream"], committed)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "benchmarks.md").write_text(render_report(results))
    plot_flow_rate(results["flow_rate"], str(out / "bench_flow_rate.png"))
    print(f"bench: wrote {out / 'benchmarks.md'} in {results['environment']['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
