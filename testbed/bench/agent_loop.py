"""Benchmarks 4 and 5, run inside a node namespace: idle resync cost, and RSS over resyncs.

`python -m testbed.bench.agent_loop --backend nftables --config FILE --syncs 1000` builds the
agent's sync loop through the CLI's own wiring (`parse_flags`, `backend_settings`, the registry,
`build_runner`), syncs once, then forces `--syncs` resyncs with the config unchanged. Prints
one JSON line.
"""

import argparse
import json
import logging
import resource
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from ip_masq_agent.backends.registry import default_backend_registry
from ip_masq_agent.cli import backend_settings
from ip_masq_agent.commands import CommandResult, SubprocessRunner
from ip_masq_agent.daemon_commands import build_runner
from ip_masq_agent.flags import parse_flags
from ip_masq_agent.metrics import AgentMetrics


class CountingRunner:
    """The agent's real runner, counting the processes it starts, by tool."""

    def __init__(self) -> None:
        self._run = SubprocessRunner()
        self.started: list[str] = []

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        self.started.append(" ".join(args[:2]))
        return self._run(args, stdin=stdin)


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def private_kib() -> int:
    """Memory only this process holds (RSS less shared library pages such as libcrypto)."""
    total = 0
    with open("/proc/self/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--syncs", type=int, default=1000)
    args = parser.parse_args(argv)
    if not 1 <= args.syncs <= 5000:
        parser.error("--syncs must be within 1..5000")

    logger = logging.getLogger("bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    run = CountingRunner()
    options = parse_flags([f"--backend={args.backend}", f"--config={args.config}"])
    backend = default_backend_registry().create(options.backend, backend_settings(options, run))
    metrics = AgentMetrics(CollectorRegistry(), backend=backend.name)
    runner = build_runner(options, backend, logger, metrics)
    if not runner.sync():
        raise SystemExit(f"first sync failed: {runner.last_error}")
    run.started.clear()
    rss: dict[str, int] = {"after first sync": rss_kib()}
    own, children, wall = [], [], []
    for number in range(1, args.syncs + 1):
        own0, child0, wall0 = (
            _cpu(resource.RUSAGE_SELF),
            _cpu(resource.RUSAGE_CHILDREN),
            time.perf_counter(),
        )
        if not runner.sync():
            raise SystemExit(f"resync {number} failed: {runner.last_error}")
        own.append(_cpu(resource.RUSAGE_SELF) - own0)
        children.append(_cpu(resource.RUSAGE_CHILDREN) - child0)
        wall.append(time.perf_counter() - wall0)
        if number in (10, 100, 1000, args.syncs):
            rss[str(number)] = rss_kib()
    restores = [c for c in run.started if "restore" in c or c == "nft -f"]
    print(
        json.dumps(
            {
                "backend": backend.name,
                "syncs": args.syncs,
                "own_cpu": own,
                "child_cpu": children,
                "wall": wall,
                "processes": len(run.started),
                "process_kinds": sorted(set(run.started)),
                "restores": len(restores),
                "rss_kib": rss,
                "private_kib_at_end": private_kib(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
