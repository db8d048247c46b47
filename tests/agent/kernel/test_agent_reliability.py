"""The agent process against hostile input and clients: it stays small, answers, and repairs.

One node namespace per test, the agent on Debian's python3 as in the image, a 1 s resync.
"""

import functools
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import agent_argv
from tests.agent.hostile_input import bomb_in
from tests.agent.kernel.backend_views import NFTABLES, BackendView
from tests.agent.kernel.kernel_helpers import wait_until

pytestmark = pytest.mark.kernel

GOOD = "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1s\n"
HEALTH = "127.0.0.1:10261"
METRICS = "127.0.0.1:10262"
MEMORY_LIMIT = 96 * 1024 * 1024  # the component's iptables floor (the default is 160Mi)


def _status(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+)", text, re.M)
    assert match is not None, field
    return int(match.group(1))


def _rss(pid: int) -> int:
    return _status(pid, "VmRSS") * 1024


def _invalid_reloads(node: Namespace) -> float:
    status, body = fetch(node, f"http://{METRICS}/metrics")
    match = re.search(r'^ip_masq_agent_config_reloads_total\{result="invalid"\} (\S+)', body, re.M)
    return float(match.group(1)) if status == 200 and match else -1.0


def _timed_healthz(node: Namespace) -> tuple[int, str, float]:
    started = time.monotonic()
    status, body = fetch(node, f"http://{HEALTH}/healthz", timeout=2.0)
    return status, body, time.monotonic() - started


def _replace(config: Path, make: Callable[[Path], object]) -> None:
    """Put something new at the config path in one rename, as an update would."""
    fresh = config.with_name("fresh")
    make(fresh)
    os.replace(fresh, config)


class _Agent:
    def __init__(self, lab: Lab, tmp_path: Path, view: BackendView) -> None:
        self.node = lab.namespace("node")
        self.view = view
        self.config = tmp_path / "config"
        self.config.write_text(GOOD)
        self.log = tmp_path / "agent.log"
        self.process = lab.spawn(
            self.node,
            *agent_argv(
                f"--backend={view.name}",
                f"--config={self.config}",
                f"--health-address={HEALTH}",
                f"--metrics-address={METRICS}",
            ),
            output=self.log,
        )
        assert wait_until(lambda: view.holds(self.node, "10.0.0.0/8"), 10) is not None
        # The servers start after the first sync: what a test counts starts once they listen.
        assert wait_until(lambda: _timed_healthz(self.node)[0] == 200, 10) is not None
        self.good = view.state(self.node)

    def rejected(self, count: float) -> bool:
        """The agent counted `count` invalid configs within 10 s."""
        return wait_until(lambda: _invalid_reloads(self.node) >= count, 10) is not None

    def repairs(self) -> bool:
        """A tamper is undone within a few resyncs: the loop is running."""
        self.view.tampers["element"](self.node)
        return wait_until(lambda: self.view.state(self.node) == self.good, 5) is not None

    def tail(self) -> str:
        return self.log.read_text()[-1500:]


def test_alias_bombs_fifos_and_devices_are_rejected_and_the_loop_keeps_running(
    lab: Lab, tmp_path: Path
) -> None:
    agent = _Agent(lab, tmp_path, NFTABLES)
    pid = agent.process.pid
    rejected = 0.0
    for key in ("nonMasqueradeCIDRs", "cidrLimit", "resyncInterval"):
        _replace(agent.config, functools.partial(Path.write_text, data=bomb_in(key)))
        rejected += 1
        assert agent.rejected(rejected), (key, agent.tail())
        assert _rss(pid) < MEMORY_LIMIT, key
        status, body, took = _timed_healthz(agent.node)
        assert (status, took < 1.0, len(body) < 1000) == (200, True, True), (key, body[:300])
        assert agent.view.state(agent.node) == agent.good, key
    makers: tuple[tuple[str, Callable[[Path], object]], ...] = (
        ("fifo", os.mkfifo),
        ("dev-zero", lambda p: p.symlink_to("/dev/zero")),
    )
    for what, make in makers:
        _replace(agent.config, make)
        rejected += 1
        assert agent.rejected(rejected), (what, agent.tail())
        assert agent.repairs(), (what, agent.tail())
        assert _rss(pid) < MEMORY_LIMIT, what
        assert _timed_healthz(agent.node)[0] == 200, what
    assert "not a regular file (a FIFO)" in agent.log.read_text()
    assert "not a regular file (a character device)" in agent.log.read_text()


def test_hundreds_of_idle_connections_cost_no_threads_and_probes_still_answer(
    lab: Lab, tmp_path: Path
) -> None:
    agent = _Agent(lab, tmp_path, NFTABLES)
    pid = agent.process.pid
    threads = _status(pid, "Threads")
    host, port = HEALTH.split(":")
    holder = lab.spawn(
        agent.node,
        *agent.node.python("testbed.netlab.idle_clients", host, port, "320", "--hold", "30"),
        ready_line="held ",
    )
    try:
        assert _status(pid, "Threads") <= threads + 2  # not one per connection
        for _ in range(3):  # kubelet's probe: a fresh connection, 2 s timeout
            status, _, took = _timed_healthz(agent.node)
            assert (status, took < 2.0) == (200, True)
        assert agent.repairs(), agent.tail()
    finally:
        holder.kill()
