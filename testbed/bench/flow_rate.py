"""Benchmark 1: new UDP flows per second through a NATing node, by backend and CIDR count."""

import json
from dataclasses import dataclass

from ip_masq_agent.commands import SubprocessRunner
from testbed.bench.workload import BACKENDS, backend, plan, synthetic_cidrs
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.topology import SingleNode

DESTINATION = "203.0.113.10"  # "internet": masqueraded, so every rule/set is consulted
SINK_PORT = 9
MAX_FLOWS = 60000  # per burst, below the generator's 64,000 distinct source ports

# The world drops the datagrams before its own conntrack (raw is -300) and counts them by
# source: the node's address means the flow was masqueraded.
_SINK = f"""table ip bench {{
	counter masqueraded {{}}
	counter kept {{}}
	chain sink {{
		type filter hook prerouting priority -400; policy accept;
		udp dport {SINK_PORT} ip saddr {{node}} counter name masqueraded drop
		udp dport {SINK_PORT} counter name kept drop
	}}
}}
"""


@dataclass(frozen=True)
class Burst:
    sent: int
    received: int
    masqueraded: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        """Flows that made it through the node, per second of sending."""
        return self.received / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Flows through per second of the sending CPU's time (robust to a busy machine)."""
        return self.received / self.cpu_seconds if self.cpu_seconds > 0 else float("nan")


class FlowRateBench:
    """pod -> node -> world; the node holds one backend's rules at a time."""

    def __init__(self, lab: Lab) -> None:
        self.topo = SingleNode(lab)
        sink = _SINK.replace("{node}", self.topo.addresses.node)
        self.topo.world.run("nft", "-f", "-", input=sink)
        self._run = SubprocessRunner(self.topo.node.prefix)

    def _counter(self, name: str) -> int:
        out = self.topo.world.run("nft", "list", "counter", "ip", "bench", name).stdout
        return int(out.split("packets ", 1)[1].split()[0])

    def burst(self, seconds: float, flows: int = MAX_FLOWS) -> Burst:
        """One burst of new flows from the pod, conntrack empty at the start."""
        node: Namespace = self.topo.node
        node.run("conntrack", "-F", check=False)  # exits 1 when already empty
        masq0, kept0 = self._counter("masqueraded"), self._counter("kept")
        argv = self.topo.pod.python(
            "testbed.bench.flowgen",
            "--dst",
            DESTINATION,
            "--dport",
            str(SINK_PORT),
            "--flows",
            str(flows),
            "--max-seconds",
            str(seconds),
        )
        result = json.loads(self.topo.pod.run(*argv, timeout=seconds + 30).stdout)
        masq, kept = self._counter("masqueraded") - masq0, self._counter("kept") - kept0
        return Burst(result["sent"], masq + kept, masq, result["seconds"], result["cpu_seconds"])

    def clear(self) -> None:
        for name in BACKENDS:
            backend(name, self._run).cleanup()

    def measure(self, backend_name: str, cidrs: int, seconds: float) -> Burst:
        """Apply `cidrs` non-masquerade CIDRs with the backend, warm up, then one burst."""
        self.clear()
        if backend_name != "none":
            backend(backend_name, self._run).apply(plan(synthetic_cidrs(cidrs)))
        self.burst(min(seconds, 0.1), flows=2000)  # caches, conntrack slab, ARP
        return self.burst(seconds)


def run_flow_rate(
    lab: Lab, *, backends: tuple[str, ...], sizes: tuple[int, ...], runs: int, seconds: float
) -> list[dict[str, object]]:
    """Every (backend, size) once per run, interleaved, plus a no-NAT baseline per run."""
    bench = FlowRateBench(lab)
    records: list[dict[str, object]] = []
    for run in range(runs):
        cases = [("none", 0), *((b, n) for b in backends for n in sizes)]
        for backend_name, cidrs in cases:
            burst = bench.measure(backend_name, cidrs, seconds)
            records.append(
                {
                    "run": run,
                    "backend": backend_name,
                    "cidrs": cidrs,
                    "sent": burst.sent,
                    "received": burst.received,
                    "masqueraded": burst.masqueraded,
                    "seconds": burst.seconds,
                    "cpu_seconds": burst.cpu_seconds,
                    "rate": burst.rate,
                    "cpu_rate": burst.cpu_rate,
                }
            )
            print(
                f"  flow-rate run {run} {backend_name:>15} N={cidrs:>6}: "
                f"{burst.rate:>9.0f} flows/s, {burst.cpu_rate:>9.0f} per CPU-second"
                f" ({burst.received}/{burst.sent} arrived)",
                flush=True,
            )
    bench.clear()
    return records
