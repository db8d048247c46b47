"""Switching backends on a live node: the new agent takes over without one wrong flow.

Agent A (one backend) leaves its rules on the node and stops, as a DaemonSet update does;
agent B (another backend) starts on the same node. Another backend's rules may go only once
B's own are written and verified, and never while B has no good config: a pod's flows, one
every ~3 ms, are judged on the far side the whole time.
"""

import os
import time
from pathlib import Path

import pytest

from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import HEALTH_ADDRESS, METRICS_ADDRESS, agent_argv
from testbed.netlab.prober import BackgroundProber, Sample
from testbed.netlab.topology import SingleNode
from tests.agent.kernel.backend_views import VIEWS
from tests.agent.kernel.kernel_helpers import wait_until

pytestmark = pytest.mark.kernel

KEEP_VPC = "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1s\n"
HOST_BITS = "nonMasqueradeCIDRs: [10.0.0.1/8]\n"  # rejected: host bits set
SWITCHES = [
    ("iptables-nft", "nftables"),
    ("nftables", "iptables-nft"),
    ("iptables-legacy", "nftables"),
    ("nftables", "iptables-legacy"),
]


def _publish(config: Path, text: str) -> None:
    staged = config.with_suffix(".new")
    staged.write_text(text)
    os.replace(staged, config)  # one inotify event, as kubelet's ..data swap gives


def _wrong(samples: list[Sample], expected: dict[str, str]) -> list[Sample]:
    return [s for s in samples if s.seen != expected[s.target.address]]


class Switch:
    """A node with agent A's rules in place and a prober in its pod; B is started by the test."""

    def __init__(self, lab: Lab, tmp_path: Path, old: str, new: str) -> None:
        self.lab, self.old, self.new = lab, VIEWS[old], VIEWS[new]
        self.topo = SingleNode(lab)
        a = self.topo.addresses
        self.config = tmp_path / "config"
        self.log = tmp_path / "agent-b.log"
        _publish(self.config, KEEP_VPC)
        done = self.topo.node.run(
            *agent_argv("--once", f"--backend={old}", f"--config={self.config}"), check=False
        )
        assert done.returncode == 0, done.stderr
        assert self.old.state(self.topo.node)
        self.expected = {a.destinations["internet"]: a.node, a.destinations["vpc"]: a.pod}
        self.prober = BackgroundProber(
            lab,
            self.topo.pod,
            [self.topo.target("internet"), self.topo.target("vpc")],
            tmp_path / "samples.jsonl",
            duration=60.0,
            gap=0.003,
        )
        self.prober.wait_rounds(20)

    def start_new(self) -> None:
        argv = agent_argv(
            f"--backend={self.new.name}",
            f"--config={self.config}",
            f"--health-address={HEALTH_ADDRESS}",
            f"--metrics-address={METRICS_ADDRESS}",
        )
        self.started_at = time.time()
        self.lab.spawn(self.topo.node, *argv, output=self.log)

    def taken_over(self) -> bool:
        node = self.topo.node
        return bool(self.new.state(node)) and self.old.state(node) == ""

    def finish(self) -> list[Sample]:
        """Every flow of the run, once B has taken over; the switch itself must be covered."""
        taken_at = time.time()
        self.prober.wait_rounds(50)
        samples = self.prober.stop()
        during = [s for s in samples if self.started_at <= s.at <= taken_at]
        assert len(during) >= 10, f"only {len(during)} flows while B took over"
        return samples


@pytest.mark.parametrize(("old", "new"), SWITCHES, ids=[f"{o}-to-{n}" for o, n in SWITCHES])
def test_a_switch_with_a_good_config_leaves_no_flow_wrong(
    lab: Lab, tmp_path: Path, old: str, new: str
) -> None:
    switch = Switch(lab, tmp_path, old, new)
    switch.start_new()
    assert wait_until(switch.taken_over, timeout=10.0) is not None, switch.log.read_text()
    samples = switch.finish()
    assert _wrong(samples, switch.expected) == []


@pytest.mark.parametrize(("old", "new"), SWITCHES, ids=[f"{o}-to-{n}" for o, n in SWITCHES])
def test_a_switch_with_a_bad_config_keeps_the_old_rules_until_it_is_fixed(
    lab: Lab, tmp_path: Path, old: str, new: str
) -> None:
    switch = Switch(lab, tmp_path, old, new)
    _publish(switch.config, HOST_BITS)
    switch.start_new()
    node = switch.topo.node

    def refused() -> bool:
        return "sync failed" in switch.log.read_text()

    assert wait_until(refused, timeout=10.0, step=0.05) is not None, switch.log.read_text()
    assert fetch(node, f"http://{HEALTH_ADDRESS}/readyz")[0] == 503
    switch.prober.wait_rounds(100)  # well after B's first sync refused the config
    assert switch.old.state(node), "A's rules went while B had no good config"
    assert switch.new.state(node) == ""

    _publish(switch.config, KEEP_VPC)
    assert wait_until(switch.taken_over, timeout=10.0) is not None, switch.log.read_text()
    samples = switch.finish()
    assert _wrong(samples, switch.expected) == []


@pytest.mark.parametrize(("old", "new"), SWITCHES, ids=[f"{o}-to-{n}" for o, n in SWITCHES])
def test_rules_an_overlapping_old_agent_recreates_go_at_the_next_resync(
    lab: Lab, tmp_path: Path, old: str, new: str
) -> None:
    switch = Switch(lab, tmp_path, old, new)
    node = switch.topo.node
    switch.start_new()
    assert wait_until(switch.taken_over, timeout=10.0) is not None, switch.log.read_text()

    # The old agent, still running during a rollout, repairs "its" chain from its own, older
    # config, which masquerades the VPC, then stops.
    stale = tmp_path / "old-config"
    stale.write_text("nonMasqueradeCIDRs: []\n")
    done = node.run(*agent_argv("--once", f"--backend={old}", f"--config={stale}"), check=False)
    assert done.returncode == 0, done.stderr
    assert switch.old.state(node)

    # Within one resync (resyncInterval 1s) of the new agent, only its rules are left.
    assert wait_until(switch.taken_over, timeout=5.0) is not None, switch.log.read_text()
    gone_at = time.time()
    samples = [s for s in switch.finish() if s.at > gone_at]
    assert len(samples) >= 100 and _wrong(samples, switch.expected) == []
    status, metrics = fetch(node, f"http://{METRICS_ADDRESS}/metrics")
    assert status == 200
    reappeared = (
        f'ip_masq_agent_other_backend_removals_total{{backend="{old}",when="reappeared"}} 1.0'
    )
    assert reappeared in metrics.splitlines(), metrics
    assert "removed rules of another backend" in switch.log.read_text()
