"""Benchmarks 4 and 5: the agent's sync loop in a node namespace, resyncing an unchanged config."""

import json
from pathlib import Path
from typing import Any

from testbed.bench.workload import config_text, synthetic_cidrs
from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import debian_python_argv


def run_idle_resync(
    lab: Lab, workdir: Path, *, backends: tuple[str, ...], cidrs: int, syncs: int
) -> list[dict[str, Any]]:
    """One agent loop per backend under Debian's python3 (as in the image)."""
    config = workdir / f"idle-{cidrs}.yaml"
    config.write_text(config_text(synthetic_cidrs(cidrs)))
    records: list[dict[str, Any]] = []
    for name in backends:
        ns = lab.namespace(f"idle-{name.split('-')[-1]}")
        argv = debian_python_argv(
            "testbed.bench.agent_loop",
            f"--backend={name}",
            f"--config={config}",
            f"--syncs={syncs}",
        )
        done = ns.run(*argv, timeout=600)
        record = json.loads(done.stdout)
        record["cidrs"] = cidrs
        records.append(record)
        print(f"  idle resync {name:>15}: {syncs} resyncs with {cidrs} CIDRs", flush=True)
    return records
