"""Benchmark 7: a config edit by stage, and the tool's own floor, at 10,000 and 50,000 CIDRs."""

import json
from pathlib import Path
from typing import Any

from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import debian_python_argv

Record = dict[str, Any]


def run_edit_stages(
    lab: Lab,
    workdir: Path,
    *,
    backends: tuple[str, ...],
    sizes: tuple[int, ...],
    families: tuple[str, ...],
    edits: int,
) -> list[Record]:
    """`testbed.bench.stages` per backend, family and size, under Debian's python3 (the image's)."""
    records: list[Record] = []
    for name in backends:
        ns = lab.namespace(f"stages-{name.split('-')[-1]}")
        for family in families:
            for size in sizes:
                argv = debian_python_argv(
                    "testbed.bench.stages",
                    f"--backend={name}",
                    f"--cidrs={size}",
                    f"--family={family}",
                    f"--edits={edits}",
                    f"--workdir={workdir}",
                )
                done = ns.run(*argv, timeout=900)
                records.append(json.loads(done.stdout))
                print(f"  stages {name:>15} {family} N={size:>6}: {edits} edits", flush=True)
    return records
