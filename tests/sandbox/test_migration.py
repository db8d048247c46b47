"""The runbook's moves, each a `pulumi up` of one stack setting, checked with packets throughout.

GKE's managed agent is upstream run with `--masq-chain=IP-MASQ --nomasq-all-reserved-ranges`
on the same ConfigMap: its chain is laid on every node from upstream's recorded tables for the
local stack's rendered ConfigMap. A prober in a pod on each node asks kept and masqueraded
destinations for the source they saw, a flow every few milliseconds, for the whole move.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from pulumi_ip_masq_agent.settings import PROJECT
from testbed.harness.offline import render_stack
from testbed.netlab.cluster import target_of
from testbed.netlab.cluster_plan import Probe, plan_probes
from testbed.netlab.probe import Target
from testbed.netlab.prober import BackgroundProber, Sample
from testbed.netlab.upstream_records import UpstreamRecords, lay_upstream_node
from testbed.sandbox.cluster_agents import SandboxCluster
from testbed.sandbox.stack import SandboxStack, render_sandbox_stack, stack_config
from tests.agent.kernel.backend_views import VIEWS
from tests.sandbox.conftest import SandboxFactory, rendered

pytestmark = pytest.mark.kernel

STACK = "local"
BACKENDS = ("iptables", "nftables")
GKE_FLAGS = ("--masq-chain=IP-MASQ", "--nomasq-all-reserved-ranges")
# One kept destination beyond the node, one pod on the other node, one masqueraded.
WATCHED = ("vpc host", "service", "internet")
Judge = Callable[[Sample, str, str], bool]  # (sample, expected source, pod's own) -> right


def _view(backend: str) -> str:
    return "iptables-nft" if backend == "iptables" else backend


def cleanup_phase() -> SandboxStack:
    """The local stack with `agentPhase: cleanup`, rendered by the real program."""
    return render_sandbox_stack(STACK, overrides={f"{PROJECT}:agentPhase": "cleanup"})


def managed_agent_render_keeps_the_config_map(stack: SandboxStack) -> None:
    """`platform: gke-managed-agent`: the DaemonSet goes, the ConfigMap GKE's agent reads stays."""
    config = stack_config(STACK, overrides={f"{PROJECT}:platform": "gke-managed-agent"})
    result = render_stack(STACK, config=config)
    assert result.of_type("kubernetes:apps/v1:DaemonSet") == []
    (config_map,) = result.of_type("kubernetes:core/v1:ConfigMap")
    assert config_map.inputs["data"]["config"] == stack.config_text


def lay_gke_agent(sandbox: SandboxCluster, upstream: UpstreamRecords) -> None:
    record = upstream.record("GKE's managed agent", sandbox.stack.config_text, GKE_FLAGS)
    for node in sandbox.cluster.nodes.values():
        lay_upstream_node(node, record)


def gke_chain(sandbox: SandboxCluster) -> list[str]:
    return [
        line
        for node in sandbox.cluster.nodes.values()
        for line in node.run("iptables-save", "-t", "nat").stdout.splitlines()
        if "IP-MASQ " in line or line.endswith("-j IP-MASQ")
    ]


class Flows:
    """A prober in the first pod of each node; every sample judged against the stack."""

    def __init__(self, sandbox: SandboxCluster, tmp_path: Path) -> None:
        self.expected: dict[tuple[str, Target], tuple[str, str]] = {}
        self.probers: dict[str, BackgroundProber] = {}
        probes = plan_probes(sandbox.plan, protos=("udp",))
        for node in sandbox.plan.nodes:
            pod = node.pods[0]
            mine = [p for p in probes if p.source == pod and _watched(p)]
            targets = []
            for probe in mine:
                target = target_of(probe)
                self.expected[(pod.name, target)] = (str(probe.expected_source), str(pod.ip4))
                targets.append(target)
            self.probers[pod.name] = BackgroundProber(
                sandbox.lab,
                sandbox.cluster.pods[pod.name],
                targets,
                tmp_path / f"{pod.name}-flows.jsonl",
                duration=120.0,
                gap=0.005,
            )
        for prober in self.probers.values():
            prober.wait_rounds(5)

    def settle(self, rounds: int = 20) -> None:
        for prober in self.probers.values():
            prober.wait_rounds(rounds)

    def wrong(self, judge: Judge) -> list[tuple[str, Sample]]:
        found = []
        for pod, prober in self.probers.items():
            samples = prober.stop()
            assert len(samples) >= 100, f"{pod}: only {len(samples)} flows"
            for sample in samples:
                expected, own = self.expected[(pod, sample.target)]
                if not judge(sample, expected, own):
                    found.append((pod, sample))
        return found


def _watched(probe: Probe) -> bool:
    return probe.target in WATCHED or probe.target.endswith("(other node)")


def as_the_stack_says(sample: Sample, expected: str, _own: str) -> bool:
    return sample.seen == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_from_gkes_managed_agent_to_ours(
    make_sandbox: SandboxFactory, tmp_path: Path, upstream: UpstreamRecords, backend: str
) -> None:
    stack = rendered(STACK)
    sandbox = make_sandbox(stack, backend=backend, start=False)
    lay_gke_agent(sandbox, upstream)
    gke = gke_chain(sandbox)
    flows = Flows(sandbox, tmp_path)
    # `platform: gke-standard` (the default): our DaemonSet rolls out beside GKE's agent.
    sandbox.roll_out(stack)
    flows.settle()
    assert flows.wrong(as_the_stack_says) == []
    assert all(VIEWS[_view(backend)].state(n) for n in sandbox.cluster.nodes.values())
    assert gke_chain(sandbox) == gke


@pytest.mark.parametrize("backend", BACKENDS)
def test_from_ours_to_gkes_managed_agent(
    make_sandbox: SandboxFactory, tmp_path: Path, upstream: UpstreamRecords, backend: str
) -> None:
    stack = rendered(STACK)
    sandbox = make_sandbox(stack, backend=backend, start=False)
    lay_gke_agent(sandbox, upstream)
    sandbox.roll_out(stack)
    gke = gke_chain(sandbox)
    flows = Flows(sandbox, tmp_path)
    # 1. `agentPhase: cleanup`: Ready on a node only once our rules are gone from it.
    sandbox.roll_out(cleanup_phase())
    assert all(
        view.state(n) == "" for view in VIEWS.values() for n in sandbox.cluster.nodes.values()
    )
    # 2. `platform: gke-managed-agent`: the DaemonSet goes, the ConfigMap stays.
    managed_agent_render_keeps_the_config_map(stack)
    sandbox.roll_out(None)
    flows.settle()
    assert flows.wrong(as_the_stack_says) == []
    assert gke_chain(sandbox) == gke


@pytest.mark.parametrize("backend", BACKENDS)
def test_uninstall_through_the_cleanup_phase(
    make_sandbox: SandboxFactory, tmp_path: Path, backend: str
) -> None:
    sandbox = make_sandbox(rendered(STACK), backend=backend)
    flows = Flows(sandbox, tmp_path)
    sandbox.roll_out(cleanup_phase())
    nodes = sandbox.cluster.nodes.values()
    assert all(view.state(n) == "" for view in VIEWS.values() for n in nodes)
    sandbox.roll_out(None)  # then the stack's resources go (`pulumi destroy`)
    flows.settle()

    # Nothing of ours is left: kept destinations keep the pod's address all along, and a
    # masqueraded one is masqueraded until its node is cleaned, then leaves as it is.
    cleaned: dict[tuple[str, str], bool] = {}

    def judge(sample: Sample, expected: str, own: str) -> bool:
        if expected == own:
            return sample.seen == own
        key = (expected, sample.target.address)
        if sample.seen == own:
            cleaned[key] = True
            return True
        return sample.seen == expected and not cleaned.get(key, False)

    assert flows.wrong(judge) == []
    assert cleaned, "no flow was seen after the cleanup"
