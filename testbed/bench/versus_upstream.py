"""Benchmark 6: ours beside the real upstream agent, every agent a process in its own namespace.

Interleaved in one run: start -> rules live; one idle minute at resyncInterval 60s (CPU, RSS,
processes per resync); config edit -> live. Ours is the `ip-masq-agent` command on Debian's
python3 with its health and metrics servers on, as the DaemonSet runs it; upstream is the
binary named by IP_MASQ_AGENT_UPSTREAM, reading its /etc/config from a bind mount.
"""

import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ip_masq_agent.contract import (
    BACKEND_NFTABLES,
    CONFIG_FILE_NAME,
    DEFAULT_CHAIN,
    READINESS_PATH,
)
from ip_masq_agent.iptables_payload import NON_MASQ_COMMENT
from ip_masq_agent.nftables_payload import DEFAULT_TABLE
from ip_masq_agent.prefixes import Prefix
from testbed.bench.workload import config_text, synthetic_cidrs
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.netlab import nft_live
from testbed.netlab.fetch import fetch
from testbed.netlab.generation_probe import GenerationProbe, GenerationStamps
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import HEALTH_ADDRESS, agent_argv, local_url
from testbed.netlab.upstream import start_upstream

UPSTREAM: Final = "upstream"
OURS: Final = ("iptables", "iptables-nft", "iptables-legacy", "nftables")
AGENTS: Final = (UPSTREAM, *OURS)


def agents(binary: Path | None) -> tuple[str, ...]:
    """The rows this run can measure: upstream's need its binary (never built nor fetched)."""
    return AGENTS if binary is not None else OURS


CHAIN: Final = DEFAULT_CHAIN
CLOCK_TICK: Final = 1.0 / os.sysconf("SC_CLK_TCK")
# Upstream runs `iptables`: the distribution's, the same flavour as our `iptables` alias.
_IPTABLES_TOOL: Final = {
    UPSTREAM: "iptables",
    "iptables": "iptables",
    "iptables-nft": "iptables-nft",
    "iptables-legacy": "iptables-legacy",
}


@dataclass(frozen=True)
class Plan:
    """How much to run."""

    start_sizes: tuple[int, ...]
    start_runs: int
    idle_sizes: tuple[int, ...]
    idle_seconds: float
    resync: str
    resync_seconds: float
    edit_sizes: tuple[int, ...]
    edits: int
    # Edited on nftables alone: the only backend whose limit (50,000) accepts them.
    nftables_edit_sizes: tuple[int, ...] = ()


def is_live(agent: str, ns: Namespace, cidr: Prefix) -> bool:
    """Whether `cidr` is in the agent's rules now: nftables' in the set its chain looks up
    (one listing), iptables' one rule checked with `-C` (no listing)."""
    if agent == "nftables":
        return nft_live.holds(ns, DEFAULT_TABLE, cidr)
    args = [_IPTABLES_TOOL[agent], "-w", "-t", "nat", "-C", CHAIN, "-d", str(cidr)]
    args += ["-m", "comment", "--comment", NON_MASQ_COMMENT, "-j", "RETURN"]
    return ns.run(*args, check=False).returncode == 0


def wait_live(
    agent: str,
    ns: Namespace,
    cidr: Prefix,
    *,
    timeout: float,
    step: float,
    generation: GenerationProbe | None = None,
) -> float | None:
    """Seconds until `cidr` is live (bounded), measured from the call.

    With the namespace's `generation`, the rules are looked at only when it has moved (the
    look itself costs the machine: ~0.4 s of CPU to list a 50,000-element table). A look
    counts only if the generation did not move while it ran, so it shows that generation's
    rules; the time is when that generation was first seen (GenerationStamps, read every
    `step` by a thread): the commit that made `cidr` live, to within `step`.
    """
    started = time.perf_counter()
    if generation is None:
        while time.perf_counter() - started < timeout:
            if is_live(agent, ns, cidr):
                return time.perf_counter() - started
            time.sleep(step)
        return None
    with GenerationStamps(generation, step=step, limit=timeout) as stamps:
        looked_at: int | None = None
        first = True
        while time.perf_counter() - started < timeout:
            current = stamps.latest()
            if first or current != looked_at:
                live = is_live(agent, ns, cidr)
                if stamps.latest() != current:
                    continue  # committed during the look: look again at what is there now
                if live:
                    return max(0.0, stamps.seen_at(current) - started)
                first, looked_at = False, current
            time.sleep(step)
    return None


def cpu_seconds(pid: int) -> float:
    """CPU of the process (every thread, ns-exact) and of the tools it started and reaped."""
    own = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            own += int((task / "schedstat").read_text().split()[0])
        except OSError:
            continue
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    children = (int(fields[13]) + int(fields[14])) * CLOCK_TICK  # cutime, cstime
    return own / 1e9 + children


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def children(pid: int) -> set[str]:
    found: set[str] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(task.read_text().split())
        except OSError:
            continue
    return found


class _Agent:
    """One agent process under test, in its own namespace and ConfigMap volume."""

    def __init__(
        self, lab: Lab, binary: Path | None, workdir: Path, agent: str, label: str
    ) -> None:
        self.agent = agent
        self.ns = lab.namespace(label)
        self.volume = ConfigMapVolume(workdir / label, key=CONFIG_FILE_NAME)
        self.log = workdir / f"{label}.log"
        self._lab, self._binary = lab, binary
        self.process: subprocess.Popen[str] | None = None
        # nftables' set is costly to look up at large sizes: its waiter watches the generation.
        self.generation = GenerationProbe(self.ns) if agent == BACKEND_NFTABLES else None

    def start(self, cidrs: Sequence[Prefix], resync: str) -> float | None:
        self.volume.publish(config_text(cidrs, resync))
        started = time.perf_counter()
        self.process = self._spawn()
        waiting = time.perf_counter()
        took = wait_live(
            self.agent, self.ns, cidrs[-1], timeout=30.0, step=0.002, generation=self.generation
        )
        # wait_live times from its own call: the spawn before it counts, its last look not.
        return None if took is None else waiting - started + took

    def wait_answering(self, timeout: float = 15.0) -> None:
        """Ours: bounded wait until /readyz answers 200. The agent answers once its start-up
        work after the first sync (prometheus_client, the other backends' sweep: 30-65 ms of
        CPU) is done, so an idle window opened after this holds none of it."""
        if self.agent == UPSTREAM:
            return
        url = local_url(HEALTH_ADDRESS, READINESS_PATH)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fetch(self.ns, url, timeout=1.0)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.agent}: /readyz not 200 within {timeout:.0f} s")

    def _spawn(self) -> subprocess.Popen[str]:
        if self.agent == UPSTREAM:
            assert self._binary is not None, "upstream rows are only planned with its binary"
            return start_upstream(
                self._lab, self._binary, self.ns, self.volume.directory, log=self.log
            )
        argv = agent_argv(f"--backend={self.agent}", f"--config={self.volume.path}")
        return self._lab.spawn(self.ns, *argv, output=self.log)

    def stop(self) -> None:
        if self.generation is not None:
            self.generation.close()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


def _label(agent: str, what: str) -> str:
    short = {"upstream": "up", "iptables": "ipt", "iptables-nft": "nft", "iptables-legacy": "leg"}
    return f"{what}-{short.get(agent, 'nftb')}"


def run_start(lab: Lab, binary: Path | None, workdir: Path, plan: Plan) -> list[dict[str, Any]]:
    """Process start until the last CIDR is live, each agent in a fresh namespace."""
    records = []
    for run in range(plan.start_runs):
        for size in plan.start_sizes:
            for agent in agents(binary):
                under = _Agent(lab, binary, workdir, agent, _label(agent, f"s{run}-{size}"))
                took = under.start(synthetic_cidrs(size), plan.resync)
                under.stop()
                records.append({"agent": agent, "cidrs": size, "run": run, "seconds": took})
                shown = "never" if took is None else f"{took:.3f}s"
                print(f"  start run {run} {agent:>15} N={size:>6}: {shown}", flush=True)
    return records


def _upstream_edits(
    under: _Agent, size: int, until: float, records: list[dict[str, Any]], step: float
) -> None:
    """Edits at random moments of upstream's resync cycle, each timed until live."""
    base = synthetic_cidrs(size - 1)
    number = 0
    rng = random.Random(size)
    while time.monotonic() < until - 1.0:
        time.sleep(rng.uniform(0.0, 3.0))
        added = synthetic_cidrs(1, offset=size + 100 + number)[0]
        under.volume.publish(config_text((*base, added), "60s"))
        took = wait_live(UPSTREAM, under.ns, added, timeout=until - time.monotonic(), step=step)
        if took is not None:
            records.append({"agent": UPSTREAM, "cidrs": size, "edit": number, "seconds": took})
        number += 1


def run_idle(
    lab: Lab,
    binary: Path | None,
    workdir: Path,
    plan: Plan,
    edit_records: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """All agents at once, idle for a window holding exactly one resync each.

    Upstream's edit -> live needs its resync, so its edits are timed in the same window, by
    agents of their own (their CPU is not in the idle figures).
    """
    idle: list[tuple[_Agent, int, float]] = []
    for size in plan.idle_sizes:
        for agent in agents(binary):
            under = _Agent(lab, binary, workdir, agent, _label(agent, f"i{size}"))
            if under.start(synthetic_cidrs(size), plan.resync) is None:
                raise RuntimeError(f"{agent}: rules never live with {size} CIDRs")
            idle.append((under, size, time.monotonic()))
    editors = []
    for size in plan.edit_sizes if binary is not None else ():
        under = _Agent(lab, binary, workdir, UPSTREAM, _label(UPSTREAM, f"e{size}"))
        if under.start(synthetic_cidrs(size), plan.resync) is None:
            raise RuntimeError(f"upstream: rules never live with {size} CIDRs")
        editors.append((under, size))
    for under, _, _ in idle:
        under.wait_answering()
    time.sleep(1.0)  # the start-up is over everywhere
    started = time.monotonic()
    until = started + plan.idle_seconds
    before = {id(u): cpu_seconds(u.pid) for u, _, _ in idle}
    seen: dict[int, set[str]] = {id(u): set() for u, _, _ in idle}

    def watch(under: _Agent, live_at: float) -> None:
        # The resync falls resyncInterval after the first sync: look for its tools around it.
        begin = live_at + plan.resync_seconds - 1.5
        time.sleep(max(0.0, begin - time.monotonic()))
        while time.monotonic() < min(until, begin + 3.5):
            seen[id(under)].update(children(under.pid))
            time.sleep(0.001)

    threads = [threading.Thread(target=watch, args=(u, t)) for u, _, t in idle]
    threads += [
        threading.Thread(target=_upstream_edits, args=(u, s, until, edit_records, 0.25))
        for u, s in editors
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=plan.idle_seconds + 30)
    window = time.monotonic() - started
    records = []
    for under, size, _ in idle:
        spent = cpu_seconds(under.pid) - before[id(under)]
        records.append(
            {
                "agent": under.agent,
                "cidrs": size,
                "window": window,
                "cpu_per_minute": spent * 60.0 / window,
                "processes_per_resync": len(seen[id(under)]),
                "rss_kib": rss_kib(under.pid),
            }
        )
        print(
            f"  idle {under.agent:>15} N={size:>6}: {spent * 1000:.1f} ms in {window:.0f} s,"
            f" {len(seen[id(under)])} processes, {rss_kib(under.pid) / 1024:.1f} MiB",
            flush=True,
        )
        under.stop()
    for under, _ in editors:
        under.stop()
    return records


def run_edits(lab: Lab, binary: Path | None, workdir: Path, plan: Plan) -> list[dict[str, Any]]:
    """Ours: every backend at once per size; each round edits each agent in turn."""
    records: list[dict[str, Any]] = []
    rounds: list[tuple[int, tuple[str, ...]]] = [(size, OURS) for size in plan.edit_sizes]
    rounds += [(size, (BACKEND_NFTABLES,)) for size in plan.nftables_edit_sizes]
    for size, backends in rounds:
        base = synthetic_cidrs(size - 1)
        agents = []
        for agent in backends:
            under = _Agent(lab, binary, workdir, agent, _label(agent, f"e{size}"))
            if under.start((*base, synthetic_cidrs(1, offset=size)[0]), plan.resync) is None:
                raise RuntimeError(f"{agent}: rules never live with {size} CIDRs")
            agents.append(under)
        for number in range(plan.edits):
            added = synthetic_cidrs(1, offset=size + 1 + number)[0]
            for under in agents:
                under.volume.publish(config_text((*base, added), plan.resync))
                # wait_live's own time, from its call: not the look that found the CIDR live
                # (~0.4 s at 50,000 on nftables).
                took = wait_live(
                    under.agent,
                    under.ns,
                    added,
                    timeout=5.0,
                    step=0.002,
                    generation=under.generation,
                )
                records.append(
                    {"agent": under.agent, "cidrs": size, "edit": number, "seconds": took}
                )
                time.sleep(0.15)  # past the runner's minimum gap: each edit is its own sync
        for under in agents:
            under.stop()
        print(f"  edits N={size:>6}: {plan.edits} per backend ({', '.join(backends)})", flush=True)
    return records


def run_versus_upstream(
    lab: Lab, binary: Path | None, workdir: Path, plan: Plan
) -> dict[str, list[dict[str, Any]]]:
    """Every row of benchmark 6; upstream's only when its binary is given (None: ours only)."""
    print("  start -> rules live", flush=True)
    start = run_start(lab, binary, workdir, plan)
    print("  config edit -> live (ours)", flush=True)
    edits = run_edits(lab, binary, workdir, plan)
    print(f"  idle window of {plan.idle_seconds:.0f} s (and upstream's edits)", flush=True)
    idle = run_idle(lab, binary, workdir, plan, edits)
    results = {"start": start, "idle": idle, "edits": edits}
    if binary is not None:
        version = re.search(r"ip-masq-agent version: (\S+)", _first_upstream_log(workdir))
        results["upstream_version"] = [{"version": version.group(1) if version else "unknown"}]
    return results


def carry_upstream_rows(
    ours: dict[str, list[dict[str, Any]]], committed: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """This run's rows of ours with upstream's rows of the committed report, marked with the
    date of the run that measured them (`carried_from`): figures are kept, never invented."""
    earlier = committed["versus_upstream"]
    carried: dict[str, list[dict[str, Any]]] = {
        "upstream_version": earlier["upstream_version"],
        "carried_from": [{"date": committed["environment"]["date"]}],
    }
    for key in ("start", "idle", "edits"):
        mine = [r for r in ours[key] if r["agent"] != UPSTREAM]
        # Only at the sizes this run measured: a row of theirs alone compares with nothing.
        sizes = {r["cidrs"] for r in mine}
        kept = [r for r in earlier[key] if r["agent"] == UPSTREAM and r["cidrs"] in sizes]
        carried[key] = kept + mine
    return carried


def _first_upstream_log(workdir: Path) -> str:
    for log in sorted(workdir.glob("*-up.log")):
        return log.read_text(errors="replace")
    return ""
