"""forceMasqueradeCIDRs on a real kernel, every backend, judged from the source seen far side."""

import time
from pathlib import Path

import pytest

from ip_masq_agent.contract import CONFIG_FILE_NAME
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import agent_argv
from testbed.netlab.prober import BackgroundProber
from testbed.netlab.topology import Addresses, SingleNode
from tests.agent.kernel.backend_views import VIEWS
from tests.agent.kernel.kernel_helpers import wait_until

pytestmark = pytest.mark.kernel

# Every destination lives on the world host, behind the node.
DESTINATIONS = {
    "vpc": "10.128.0.1",  # inside the kept 10.0.0.0/8 only
    "partner": "10.200.0.10",  # in the exception 10.200.0.0/16 inside 10.0.0.0/8
    "partner-kept": "10.200.5.10",  # in 10.200.5.0/24, kept again inside the exception
    "peer": "10.99.0.10",  # kept until the live edit excepts 10.99.0.0/16
    "internet": "203.0.113.10",
    "link-local": "169.254.169.254",
    "vpc6": "fd00:128::1",
    "partner6": "fd00:200::10",
    "partner-kept6": "fd00:200:5::10",
    "internet6": "2001:db8::10",
}
CONFIG = (
    "nonMasqueradeCIDRs: [10.0.0.0/8, 10.200.5.0/24, fd00::/8, fd00:200:5::/48]\n"
    "forceMasqueradeCIDRs: [10.200.0.0/16, fd00:200::/32{extra}]\n"
    "resyncInterval: 60s\n"
)
HEALTH = "127.0.0.1:10261"


@pytest.mark.parametrize("backend", list(VIEWS))
def test_exceptions_by_longest_prefix_and_a_live_edit_flips_within_a_second(
    lab: Lab, tmp_path: Path, backend: str
) -> None:
    topo = SingleNode(lab, Addresses(destinations=dict(DESTINATIONS)))
    node, a = topo.node, topo.addresses
    volume = ConfigMapVolume(tmp_path / "volume", key=CONFIG_FILE_NAME)
    volume.publish(CONFIG.format(extra=""))
    lab.spawn(
        node,
        *agent_argv(
            f"--backend={backend}",
            f"--config={volume.path}",
            "--enable-ipv6",
            f"--health-address={HEALTH}",
        ),
        output=tmp_path / "agent.log",
    )
    ready = wait_until(lambda: fetch(node, f"http://{HEALTH}/readyz")[0] == 200, 10, step=0.1)
    assert ready is not None, (tmp_path / "agent.log").read_text()
    kept, masqueraded = {"vpc", "partner-kept", "peer", "link-local"}, {"partner", "internet"}
    expected = {d: a.pod for d in kept} | {d: a.node for d in masqueraded}
    expected |= {"vpc6": a.pod6, "partner-kept6": a.pod6, "partner6": a.node6}
    expected["internet6"] = a.node6
    assert topo.seen_from_pod(*expected, proto="tcp") == expected

    # Live: kubelet swaps the volume; every probe is a fresh flow, so each sample shows the
    # rules in the kernel at the moment it was sent.
    prober = BackgroundProber(
        lab, topo.pod, [topo.target("peer"), topo.target("vpc")], tmp_path / "samples"
    )
    before = prober.wait_rounds(3)
    assert {s.seen for s in before if s.target.address == DESTINATIONS["peer"]} == {a.pod}
    published = time.time()
    volume.publish(CONFIG.format(extra=", 10.99.0.0/16"))
    time.sleep(1.3)
    samples = prober.wait_rounds(3)
    prober.stop()
    peer = [s for s in samples if s.target.address == DESTINATIONS["peer"]]
    assert all(s.seen == a.pod for s in peer if s.at < published)
    late = [s for s in peer if s.at >= published + 1.0]
    assert late and all(s.seen == a.node for s in late), [(s.at - published, s.seen) for s in peer]
    flipped = min(s.at for s in peer if s.at >= published and s.seen == a.node)
    assert flipped - published < 1.0
    # Once flipped it stays flipped, and the kept block around it was never disturbed.
    assert all(s.seen == a.node for s in peer if s.at >= flipped)
    assert {s.seen for s in samples if s.target.address == DESTINATIONS["vpc"]} == {a.pod}
    assert topo.seen_from_pod("partner", "partner-kept", "peer", "vpc", proto="tcp") == {
        "partner": a.node,
        "partner-kept": a.pod,
        "peer": a.node,
        "vpc": a.pod,
    }
