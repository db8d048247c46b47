"""Continuous packet watch for fault tests: background probers in pods, judged sample by sample."""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from testbed.netlab.cluster import target_of
from testbed.netlab.cluster_plan import Probe, plan_probes
from testbed.netlab.probe import Target
from testbed.netlab.prober import BackgroundProber, Sample
from testbed.sandbox.cluster_agents import SandboxCluster

# Destinations whose outcome no fault may change (the new peer is what configs toggle).
STEADY = ("vpc host", "service", "internet", "pod ")


@dataclass(frozen=True)
class Violation:
    pod: str
    probe: Probe
    sample: Sample
    allowed: frozenset[str]

    def __str__(self) -> str:
        return (
            f"{self.pod} -> {self.probe.target} {self.probe.proto} at {self.sample.at:.3f}: "
            f"seen {self.sample.seen}, want one of {sorted(self.allowed)}"
        )


Allowed = Callable[[Probe], Collection[str]]


def as_planned(probe: Probe) -> Collection[str]:
    return {str(probe.expected_source)}


class PacketWatch:
    """One background prober in the first pod of each node, over the chosen destinations."""

    def __init__(
        self,
        sandbox: SandboxCluster,
        workdir: Path,
        *,
        targets: Collection[str] = (*STEADY, "new peer"),
        duration: float = 120.0,
    ) -> None:
        self.sandbox = sandbox
        self.probers: dict[str, tuple[BackgroundProber, dict[Target, Probe]]] = {}
        sources = {node.pods[0].name for node in sandbox.plan.nodes}
        probes = [
            p
            for p in plan_probes(sandbox.plan)
            if p.source.name in sources
            and any(p.target.startswith(t) for t in targets)
            and "same node" not in p.target
        ]
        for pod in sorted(sources):
            mine = {target_of(p): p for p in probes if p.source.name == pod}
            prober = BackgroundProber(
                sandbox.lab,
                sandbox.cluster.pods[pod],
                list(mine),
                workdir / f"watch-{pod}.jsonl",
                duration=duration,
                timeout=1.0,
            )
            self.probers[pod] = (prober, dict(mine))
        for prober, _ in self.probers.values():
            prober.wait_rounds(1)

    def samples(self) -> dict[str, list[tuple[Probe, Sample]]]:
        out: dict[str, list[tuple[Probe, Sample]]] = {}
        for pod, (prober, probes) in self.probers.items():
            out[pod] = [(probes[s.target], s) for s in prober.samples() if s.target in probes]
        return out

    def violations(
        self,
        allowed: Allowed = as_planned,
        *,
        since: float = 0.0,
        until: float = float("inf"),
        nodes: Collection[str] | None = None,
    ) -> list[Violation]:
        """Samples in the window (from pods on `nodes`, default all) with a source not allowed.

        No answer is a violation too: a lost packet is not a kept one.
        """
        found = []
        for pod, samples in self.samples().items():
            for probe, sample in samples:
                if nodes is not None and probe.source.node not in nodes:
                    continue
                if not since <= sample.at <= until:
                    continue
                ok = frozenset(allowed(probe))
                if sample.seen not in ok:
                    found.append(Violation(pod, probe, sample, ok))
        return found

    def wait_rounds(self, rounds: int, timeout: float = 10.0) -> None:
        for prober, _ in self.probers.values():
            prober.wait_rounds(rounds, timeout=timeout)

    def stop(self) -> None:
        for prober, _ in self.probers.values():
            prober.stop()


def either_for_new_peer(probe: Probe) -> Collection[str]:
    """Steady destinations as planned; the new peer may be kept or masqueraded (in transition)."""
    if probe.target != "new peer":
        return as_planned(probe)
    return {str(probe.expected_source), str(probe.source.ip4)}


def new_peer_kept(probe: Probe) -> Collection[str]:
    """After a config that adds the new peer's range: its pods' own addresses arrive."""
    if probe.target != "new peer":
        return as_planned(probe)
    return {str(probe.source.ip4)}
