"""Benchmark 2: seconds to put N CIDRs in the kernel, first apply and a one-CIDR change."""

import time

from ip_masq_agent.commands import SubprocessRunner
from testbed.bench.workload import BACKENDS, backend, plan, synthetic_cidrs
from testbed.netlab.lab import Lab


def run_apply_time(
    lab: Lab, *, backends: tuple[str, ...], sizes: tuple[int, ...], runs: int
) -> list[dict[str, object]]:
    """backend.apply() wall time (render + tool + verify), as the agent's sync pays it."""
    ns = lab.namespace("apply")
    run_in_ns = SubprocessRunner(ns.prefix, timeout=120)
    records: list[dict[str, object]] = []
    for run in range(runs):
        for name in backends:
            for size in sizes:
                for other in BACKENDS:
                    backend(other, run_in_ns).cleanup()
                chosen = backend(name, run_in_ns)
                cidrs = synthetic_cidrs(size)
                first_plan = plan(cidrs)
                # The same list with its last CIDR swapped for a new one.
                changed_plan = plan(cidrs[:-1] + synthetic_cidrs(1, offset=size))
                started = time.perf_counter()
                chosen.apply(first_plan)
                first = time.perf_counter() - started
                started = time.perf_counter()
                chosen.apply(changed_plan)
                change = time.perf_counter() - started
                records.append(
                    {"run": run, "backend": name, "cidrs": size, "first": first, "change": change}
                )
                print(
                    f"  apply run {run} {name:>15} N={size:>6}: first {first:.3f}s,"
                    f" change {change:.3f}s",
                    flush=True,
                )
    for other in BACKENDS:
        backend(other, run_in_ns).cleanup()
    return records
