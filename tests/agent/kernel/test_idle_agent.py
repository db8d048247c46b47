"""An idle agent spends no CPU between resyncs: its CPU time over a window stands still."""

import os
import time
from pathlib import Path

import pytest

from ip_masq_agent.contract import CONFIG_FILE_NAME
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import NodeAgent
from tests.agent.kernel.kernel_helpers import wait_until

pytestmark = pytest.mark.kernel

# The stat-polling watcher this replaced spent ~2.3 ms a second: 8 s make that two ticks.
WINDOW_SECONDS = 8.0
CLOCK_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Time on a CPU of every thread of `pid`, to the nanosecond (/proc/PID/task/*/schedstat).

    utime and stime count whole ticks; a thread waking briefly many times a second can go
    unnoticed by them for seconds. The scheduler's own run time cannot.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def nft_table(ns: Namespace) -> str:
    return ns.run("nft", "list", "table", "inet", "ip-masq-agent", check=False).stdout


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_an_idle_agent_uses_no_cpu_between_resyncs(lab: Lab, tmp_path: Path, backend: str) -> None:
    node = lab.namespace("node")
    volume = ConfigMapVolume(tmp_path / "volume", key=CONFIG_FILE_NAME)
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 60s\n")
    # Health and metrics servers on, as in the DaemonSet: their threads must sleep too.
    agent = NodeAgent(lab, node, volume, ["--backend=nftables"], log=tmp_path / "agent.log")
    agent.start()
    agent.wait_ready()
    assert agent.process is not None
    time.sleep(0.5)  # the readiness request's own work is over

    before = cpu_seconds(agent.process.pid)
    time.sleep(WINDOW_SECONDS)
    spent = cpu_seconds(agent.process.pid) - before
    # One tick of tolerance: the kernel charges ticks, a sliver of work can round up to one.
    assert spent <= CLOCK_TICK + 1e-9, f"{spent * 1000:.0f} ms in {WINDOW_SECONDS} s idle"

    # Not idle because it is dead or deaf: an edit still goes live at once.
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8, 12.34.0.0/16]\nresyncInterval: 60s\n")
    assert wait_until(lambda: "12.34.0.0/16" in nft_table(node), timeout=5.0) is not None
