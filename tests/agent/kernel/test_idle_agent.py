"""An idle agent spends no CPU between resyncs: its CPU time over a window stands still."""

import functools
import os
import time
from pathlib import Path

import pytest

from ip_masq_agent.contract import CONFIG_FILE_NAME
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import NodeAgent
from tests.agent.kernel.backend_views import VIEWS
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


# Both kinds of backend idle over one shared window: the window's length is what the
# assertion's resolution rests on, and two agents asleep side by side do not disturb each other.
BACKENDS = ("nftables", "iptables-nft")


def test_an_idle_agent_uses_no_cpu_between_resyncs(lab: Lab, tmp_path: Path) -> None:
    agents: dict[str, tuple[Namespace, ConfigMapVolume, NodeAgent]] = {}
    for index, backend in enumerate(BACKENDS):
        node = lab.namespace(f"node{index}")
        volume = ConfigMapVolume(tmp_path / backend / "volume", key=CONFIG_FILE_NAME)
        volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 60s\n")
        # Health and metrics servers on, as in the DaemonSet: their threads must sleep too.
        log = tmp_path / f"agent-{backend}.log"
        agent = NodeAgent(lab, node, volume, [f"--backend={backend}"], log=log)
        agent.start()
        agents[backend] = (node, volume, agent)
    pids = {}
    for backend, (_, _, agent) in agents.items():
        agent.wait_ready()
        assert agent.process is not None
        pids[backend] = agent.process.pid
    time.sleep(0.5)  # the readiness requests' own work is over

    before = {backend: cpu_seconds(pid) for backend, pid in pids.items()}
    time.sleep(WINDOW_SECONDS)
    for backend, pid in pids.items():
        spent = cpu_seconds(pid) - before[backend]
        # One tick of tolerance: the kernel charges ticks, a sliver of work can round up to one.
        assert spent <= CLOCK_TICK + 1e-9, (
            f"{backend}: {spent * 1000:.0f} ms in {WINDOW_SECONDS} s idle"
        )

    # Not idle because it is dead or deaf: an edit still goes live at once.
    for backend, (node, volume, _) in agents.items():
        volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8, 12.34.0.0/16]\nresyncInterval: 60s\n")
        went_live = functools.partial(VIEWS[backend].holds, node, "12.34.0.0/16")
        assert wait_until(went_live, timeout=5.0) is not None, backend
