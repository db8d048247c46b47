"""The agent's health signals on a real kernel: a held lock, a writer fighting ours, SIGHUP.

One node namespace per test, the agent on Debian's python3 as in the image; verdicts are read
from its real /healthz, /readyz and /metrics and from the kernel's rules.
"""

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ip_masq_agent.sync.drift_fight import FIGHT_EVENT, FIGHT_REWRITES
from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import agent_argv
from tests.agent.kernel.backend_views import IPTABLES_LEGACY, NFTABLES, VIEWS, BackendView
from tests.agent.kernel.kernel_helpers import wait_until

pytestmark = pytest.mark.kernel

HEALTH = "127.0.0.1:10261"
METRICS = "127.0.0.1:10262"


class _Agent:
    """One agent in its own node namespace, its log in a file."""

    def __init__(
        self,
        lab: Lab,
        tmp_path: Path,
        view: BackendView,
        config: str,
        *flags: str,
        env: tuple[str, ...] = (),
    ) -> None:
        self.node = lab.namespace("node")
        self.view = view
        self.config = tmp_path / "config"
        self.config.write_text(config)
        self.log = tmp_path / "agent.log"
        self.process = lab.spawn(
            self.node,
            "env",
            *env,
            *agent_argv(
                f"--backend={view.name}",
                f"--config={self.config}",
                f"--health-address={HEALTH}",
                f"--metrics-address={METRICS}",
                *flags,
            ),
            output=self.log,
        )
        assert wait_until(lambda: view.holds(self.node, "10.0.0.0/8"), 10), self.tail()
        assert wait_until(lambda: self.get("/readyz")[0] == 200, 5), self.tail()
        self.good = view.state(self.node)

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://{METRICS if path == '/metrics' else HEALTH}{path}"
        return fetch(self.node, url, timeout=2.0)

    def metric(self, sample: str) -> float:
        body = self.get("/metrics")[1]
        match = re.search(rf"^{re.escape(sample)} (\S+)$", body, re.M)
        return float(match.group(1)) if match else -1.0

    def change_config(self, text: str) -> None:
        fresh = self.config.with_name("fresh")
        fresh.write_text(text)
        os.replace(fresh, self.config)  # one rename, as kubelet's volume update

    def log_lines(self, event: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f"event={event}" in line]

    def tail(self) -> str:
        return self.log.read_text()[-1500:] if self.log.exists() else ""


def _first_status(agent: _Agent, path: str, status: int, bound: float) -> float | None:
    """Seconds until `path` answers `status` (probed back to back), None if not within bound."""
    return wait_until(lambda: agent.get(path)[0] == status, bound, step=0.05)


HEALTH_TIMEOUT = 3.0  # --health-timeout: the held lock's attempt would last 30 s


def test_healthz_fails_within_the_health_timeout_while_the_xtables_lock_is_held(
    lab: Lab, tmp_path: Path
) -> None:
    # The agent's lock file is its own (XTABLES_LOCKFILE): holding it blocks only this agent,
    # not the node's other iptables-legacy users (other tests on this machine).
    lock = tmp_path / "xtables.lock"
    lock.touch()
    agent = _Agent(
        lab,
        tmp_path,
        IPTABLES_LEGACY,
        "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1m\n",
        f"--health-timeout={HEALTH_TIMEOUT:g}s",
        env=(f"XTABLES_LOCKFILE={lock}",),
    )
    assert agent.get("/healthz")[0] == 200
    with lock.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another program holding the xtables lock
        agent.change_config("nonMasqueradeCIDRs: [10.0.0.0/8, 172.16.0.0/12]\nresyncInterval: 1m\n")
        changed = time.monotonic()
        # The write waits on the lock (its attempt would end at the 30 s command timeout).
        took = _first_status(agent, "/healthz", 503, HEALTH_TIMEOUT + 5)
        assert took is not None, f"/healthz still 200 {HEALTH_TIMEOUT + 5:g}s after the change"
        since_change = time.monotonic() - changed
        body = agent.get("/healthz")[1]
        assert not agent.view.holds(agent.node, "172.16.0.0/12")  # the write really is stuck
        print(f"/healthz 503 {since_change:.2f}s after the change (timeout {HEALTH_TIMEOUT:g}s)")
        # Not before the timeout (the request came after the change), and soon after it: the
        # watcher's 0.1 s poll, one probe's round trip.
        assert HEALTH_TIMEOUT <= since_change <= HEALTH_TIMEOUT + 1.5, since_change
        assert "unhealthy: a sync requested" in body and "has not succeeded" in body, body
        assert agent.process.poll() is None
    # The holder lets go: the waiting restore takes the lock, the change lands, green again.
    assert wait_until(lambda: agent.view.holds(agent.node, "172.16.0.0/12"), 5), agent.tail()
    assert _first_status(agent, "/healthz", 200, 3) is not None


@pytest.mark.parametrize("view", list(VIEWS.values()), ids=list(VIEWS))
def test_a_writer_undoing_our_rules_fails_readyz_and_is_logged_and_counted(
    lab: Lab, tmp_path: Path, view: BackendView
) -> None:
    agent = _Agent(lab, tmp_path, view, "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1s\n")
    drift = 'ip_masq_agent_rules_rewritten_total{reason="drift"}'
    seen: list[int] = []  # /readyz after each repair
    started = time.monotonic()
    for _ in range(3 * FIGHT_REWRITES):  # bounded: the other writer gives up after this many
        agent.view.tampers["element"](agent.node)  # drops our first kept range
        assert wait_until(lambda: agent.view.state(agent.node) == agent.good, 5), agent.tail()
        time.sleep(0.2)  # the repairing sync finishes (its look after the write)
        seen.append(agent.get("/readyz")[0])
        if seen[-1] == 503:
            break
    took = time.monotonic() - started
    print(f"{view.name}: /readyz 503 {took:.2f}s after the first undo; after each repair {seen}")
    # Repaired silently twice; the third repair within the window is a fight.
    assert seen == [200] * (FIGHT_REWRITES - 1) + [503], seen
    assert agent.metric(drift) == FIGHT_REWRITES
    status, body = agent.get("/readyz")
    assert status == 503 and body.startswith(f"not ready: {FIGHT_EVENT} ("), body
    assert "10.0.0.0" not in body
    assert agent.get("/healthz")[0] == 200  # a restart would not stop the other writer
    assert agent.metric("ip_masq_agent_writer_fights_total") == 1
    assert agent.metric("ip_masq_agent_writer_fight") == 1
    fights = agent.log_lines(f'"{FIGHT_EVENT}"')
    assert len(fights) == 1, agent.tail()
    assert "level=warning" in fights[0] and f"rewrites={FIGHT_REWRITES}" in fights[0], fights
    assert agent.process.poll() is None


def test_sighup_is_logged_and_resyncs_and_the_agent_keeps_running(lab: Lab, tmp_path: Path) -> None:
    # resyncInterval 1h: only the signal's sync can repair the rules within the test.
    config = "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1h\n"
    agent = _Agent(lab, tmp_path, NFTABLES, config)
    agent.view.tampers["element"](agent.node)
    assert agent.view.state(agent.node) != agent.good
    agent.process.send_signal(signal.SIGHUP)
    repaired = wait_until(lambda: agent.view.state(agent.node) == agent.good, 5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        agent.process.wait(timeout=0.5)  # an agent killed by the signal is gone by now
    assert agent.process.poll() is None, f"exit {agent.process.returncode}: {agent.tail()}"
    assert repaired is not None, agent.tail()
    assert agent.get("/healthz")[0] == 200
    lines = [line for line in agent.log.read_text().splitlines() if "SIGHUP" in line]
    assert len(lines) == 1 and "level=info" in lines[0], agent.tail()
    print(f"SIGHUP: rules repaired {repaired:.2f}s after the signal; {lines[0]}")
