"""`cleanup --stay`, the uninstall phase on a node: Ready only once no rule of ours is left."""

from pathlib import Path

import pytest

from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import HEALTH_ADDRESS, agent_argv
from testbed.netlab.topology import SingleNode
from tests.agent.kernel.backend_views import VIEWS
from tests.agent.kernel.kernel_helpers import wait_until

pytestmark = pytest.mark.kernel

CONFIG = "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1s\n"
READYZ = f"http://{HEALTH_ADDRESS}/readyz"


@pytest.mark.parametrize("backend", list(VIEWS))
def test_cleanup_phase_removes_our_rules_and_is_ready_only_then(
    lab: Lab, tmp_path: Path, backend: str
) -> None:
    topo = SingleNode(lab)
    a = topo.addresses
    config = tmp_path / "config"
    config.write_text(CONFIG)
    once = agent_argv("--once", f"--backend={backend}", f"--config={config}")
    topo.node.run(*once)
    assert VIEWS[backend].state(topo.node)
    assert topo.seen_from_pod("internet", "vpc") == {"internet": a.node, "vpc": a.pod}

    log = tmp_path / "cleanup.log"
    lab.spawn(
        topo.node,
        *agent_argv("cleanup", "--stay", f"--health-address={HEALTH_ADDRESS}"),
        output=log,
    )
    ready = wait_until(lambda: fetch(topo.node, READYZ, timeout=1.0)[0] == 200, timeout=10.0)
    assert ready is not None, log.read_text()
    assert all(view.state(topo.node) == "" for view in VIEWS.values())
    # No rule of ours: the node forwards the pod's traffic as it is.
    assert topo.seen_from_pod("internet", "vpc") == {"internet": a.pod, "vpc": a.pod}
    assert fetch(topo.node, f"http://{HEALTH_ADDRESS}/healthz")[0] == 200

    if backend != "nftables":
        return
    # An old pod still stopping writes its rules once more: the next recheck removes them.
    topo.node.run(*once)
    assert VIEWS[backend].state(topo.node)
    gone = wait_until(lambda: VIEWS[backend].state(topo.node) == "", timeout=15.0, step=0.2)
    assert gone is not None, log.read_text()
    assert fetch(topo.node, READYZ)[0] == 200


def test_stay_is_only_for_cleanup_and_needs_the_health_address(lab: Lab) -> None:
    node = lab.namespace("node")
    done = node.run(*agent_argv("--stay", "--once"), check=False)
    assert (done.returncode, done.stderr) == (
        2,
        "ip-masq-agent: flag -stay is only for the cleanup command\n",
    )
    done = node.run(*agent_argv("cleanup", "--stay", "--health-address="), check=False)
    assert done.returncode == 2
    assert "flag -stay needs -health-address" in done.stderr
