"""`make demo`: render a stack, run it on a namespace cluster, probe every path, change it live.

Run as root: `python -m testbed.sandbox.demo --stack local`. Exits 0 only when every probe is as
expected.
"""

import argparse
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from agent_image.build import build_image
from agent_image.podman import PodmanError
from testbed.harness.offline import USER_ERRORS
from testbed.kubelet.pod_spec import PodSpecError
from testbed.netlab.cluster import ProbeResult, target_of
from testbed.netlab.cluster_plan import PlanError, Probe, plan_probes
from testbed.netlab.lab import Lab, LabError, kernel_lab_unavailable
from testbed.netlab.prober import BackgroundProber
from testbed.runtimes import RUNTIMES, Runtime
from testbed.sandbox.autopilot import autopilot_demo
from testbed.sandbox.cluster_agents import SandboxCluster
from testbed.sandbox.endpoints import check_endpoints, format_checks
from testbed.sandbox.stack import BACKEND_KEY, render_sandbox_stack
from testbed.sandbox.table import format_table, summary_line

FLIP_DEADLINE = 1.0  # seconds from the ConfigMap swap to the new NAT decision on the wire

Say = Callable[[str], None]


# Set by SIGTERM. The KeyboardInterrupt the handler raises can land inside a finalizer (an
# event loop a render left behind, collected at any time), where Python only prints it; the
# next line the demo says raises it again, so the sandbox is still removed on the way out.
_TERMINATED = threading.Event()


def _say(line: str) -> None:
    if _TERMINATED.is_set():
        raise KeyboardInterrupt("SIGTERM")
    print(line, flush=True)


def live_change(sandbox: SandboxCluster, workdir: Path, say: Say) -> list[ProbeResult]:
    """Add the new peer's CIDR to the stack's extras, re-render, swap; time the flip."""
    plan, stack = sandbox.plan, sandbox.stack
    peer = plan.destination("new peer")
    new_cidr = str(plan.new_peer)
    say("")
    say(f"live change: add {new_cidr} to {stack.name}'s extraNonMasqueradeCidrs and re-render")
    changed = render_sandbox_stack(
        stack.name, extra_cidrs=[new_cidr], overrides=dict(stack.overrides)
    )
    added = sorted(set(changed.non_masquerade_cidrs) - set(stack.non_masquerade_cidrs))
    say(f"  nonMasqueradeCIDRs gained: {', '.join(added) or '(nothing!)'}")
    pod = plan.pods[0]
    watched = [Probe(pod, "new peer", peer.address, proto, pod.ip4) for proto in ("udp", "tcp")]
    prober = BackgroundProber(
        sandbox.lab,
        sandbox.cluster.pods[pod.name],
        [target_of(p) for p in watched],
        workdir / "live-change.jsonl",
        duration=30,
    )
    prober.wait_rounds(2)
    swapped_at = time.time()
    sandbox.publish(changed.config_text)
    say(f"  swapped ..data on {len(sandbox.node_names)} nodes; {pod.name} probing {peer.address}")
    deadline = time.monotonic() + 5
    flips: dict[str, float] = {}
    while time.monotonic() < deadline and len(flips) < len(watched):
        for sample in prober.samples():
            if sample.at >= swapped_at and sample.seen == str(pod.ip4):
                flips.setdefault(sample.target.proto, sample.at - swapped_at)
        time.sleep(0.05)
    prober.stop()
    results = []
    for probe in watched:
        took = flips.get(probe.proto)
        within = took is not None and took <= FLIP_DEADLINE
        seen = str(pod.ip4) if within else None
        results.append(ProbeResult(probe, seen))
        shown = "never" if took is None else f"{took:.2f} s"
        verdict = "ok" if within else f"WRONG (want within {FLIP_DEADLINE:.0f} s)"
        say(f"  {probe.proto}: masqueraded -> kept after {shown}: {verdict}")
    after = [
        Probe(p, "new peer", peer.address, proto, p.ip4)
        for p in plan.pods
        for proto in ("tcp", "udp")
    ]
    settled = sandbox.cluster.run_probes(after)
    for line in format_table(settled)[1:]:
        say(line)
    return results + settled


def run_demo(
    stack_name: str,
    *,
    nodes: int,
    backend: str | None,
    runtime: Runtime = "process",
    image: str | None = None,
    say: Say = _say,
) -> int:
    """The whole demo; returns the exit status. Everything it creates goes with the Lab.

    With the container runtime, `image` is the image to run (built here when None), and a
    `backend` is rendered into the DaemonSet (the stack's backend) rather than patched in.
    """
    overrides = {BACKEND_KEY: backend} if runtime == "container" and backend else None
    if overrides:
        backend = None
    say(f"rendering stack {stack_name} with the Pulumi program (mock runtime)")
    stack = render_sandbox_stack(stack_name, overrides=overrides)
    say(f"  nonMasqueradeCIDRs: {', '.join(stack.non_masquerade_cidrs)}")
    say(f"  agent args: {' '.join(stack.agent_args)}")
    if runtime == "container" and image is None:
        built = build_image(say)
        say(f"  image {built.reference} ({built.image_id.removeprefix('sha256:')[:12]})")
        image = built.image_id
    with tempfile.TemporaryDirectory(prefix="ip-masq-demo-") as tmp, Lab("imd") as lab:
        workdir = Path(tmp)
        sandbox = SandboxCluster(
            lab, stack, workdir, nodes=nodes, backend=backend, runtime=runtime, image=image
        )
        plan = sandbox.plan
        say(
            f"sandbox {lab.token}: {len(plan.nodes)} nodes, {len(plan.pods)} pods, "
            f"{len(plan.destinations)} destinations"
            + (", dual-stack" if stack.ranges.dual_stack else "")
        )
        sandbox.start_agents()
        shown = " (containers, rendered pod spec)" if runtime == "container" else ""
        say(f"agents ready on {', '.join(sandbox.node_names)}{shown}")
        results = sandbox.cluster.run_probes(plan_probes(plan))
        for line in format_table(results):
            say(line)
        say("")
        say("agent HTTP endpoints, from a pod on another node (as Prometheus) and from the node:")
        checks = check_endpoints(sandbox)
        for line in format_checks(checks):
            say(f"  {line}")
        changed = live_change(sandbox, workdir, say)
        everything = results + changed
        passed = sum(r.ok for r in everything) + sum(c.ok for c in checks)
        total = len(everything) + len(checks)
        say(summary_line(passed, total))
        return 0 if passed == total else 1


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so the Lab and temp dir are removed on the way out.
    _TERMINATED.set()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="local", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--nodes", type=int, default=2, help="sandbox nodes (1-8)")
    parser.add_argument("--backend", help="override the DaemonSet's --backend")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="process",
        help="each node's agent as a process of this checkout, or as the image under the "
        "rendered DaemonSet's pod spec",
    )
    options = parser.parse_args(argv)
    try:
        # Before the kernel check: an Autopilot stack only renders and checks, as any user may.
        autopilot = autopilot_demo(options.stack, _say)
    except USER_ERRORS as err:
        print(f"demo {options.stack}: {err}", file=sys.stderr)
        return 2
    if autopilot is not None:
        return autopilot
    reason = kernel_lab_unavailable()
    if reason is not None:
        print(f"demo: {reason} (run as root on Linux)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run_demo(
            options.stack, nodes=options.nodes, backend=options.backend, runtime=options.runtime
        )
    except (*USER_ERRORS, PlanError, PodSpecError) as err:
        print(f"demo {options.stack}: {err}", file=sys.stderr)
        return 2
    except (LabError, PodmanError) as err:
        print(f"demo {options.stack}: sandbox failed: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; sandbox removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
