"""The loop's health verdicts with a fake clock: stuck writes and another writer fighting ours."""

import logging
from dataclasses import replace

import pytest

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.health import health_routes
from tests.agent.test_runner import CONFIG, FAST, Harness

COMMAND_TIMEOUT = 30.0  # SubprocessRunner's: `iptables-restore -w` behind a held lock ends there
PROBE = 0.1  # how often the fake kubelet asks /healthz
CHANGED = CONFIG.replace("10.8.0.0/14", "10.9.0.0/16")
FIGHT = "another writer is changing our rules"


class Probes:
    """/healthz answers by age of the oldest write still owed, as kubelet would see them."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.seen: list[tuple[float, bool]] = []  # (monotonic time, healthy)

    def probe(self) -> None:
        self.seen.append((self.h.clock.now, self.h.runner.health().healthy))

    def hang(self) -> None:
        """A write that waits out the command timeout (the xtables lock is held) and fails."""
        for _ in range(round(COMMAND_TIMEOUT / PROBE)):
            self.h.clock.now += PROBE
            self.probe()
        raise ApplyError(f"iptables-legacy-restore: timed out after {COMMAND_TIMEOUT}s")

    def run_for(self, seconds: float) -> None:
        end = self.h.clock.now + seconds
        while self.h.clock.now < end:
            self.h.advance(PROBE)
            self.probe()

    def first_failure_after(self, since: float) -> float:
        return next(round(t - since, 1) for t, healthy in self.seen if not healthy and t > since)

    def check(self, since: float, health_timeout: float) -> None:
        """Green up to the timeout (no false alarm), red from then on until the write succeeds."""
        ages = [(t - since, healthy) for t, healthy in self.seen if t >= since]
        early = [round(age, 1) for age, healthy in ages if age <= health_timeout and not healthy]
        late = [round(age, 1) for age, healthy in ages if age > health_timeout + 1e-6 and healthy]
        assert early == [], f"/healthz failed before the timeout at {early[:5]}"
        assert late == [], f"/healthz green past the timeout at {late[:5]} (of {len(late)})"


@pytest.mark.parametrize("health_timeout", [5.0, 10.0, 45.0])
def test_healthz_fails_within_the_health_timeout_of_a_request_while_every_write_hangs(
    health_timeout: float,
) -> None:
    h = Harness(CONFIG, replace(FAST, health_timeout=health_timeout))
    h.runner.step()
    probes = Probes(h)
    h.backend.stall = probes.hang
    h.source.text = CHANGED
    requested = h.clock.now
    h.runner.request_sync("config file changed")
    probes.run_for(150)  # several 30 s attempts, each ending at the command timeout
    probes.check(requested, health_timeout)
    assert probes.first_failure_after(requested) == pytest.approx(health_timeout, abs=PROBE + 1e-6)
    # The lock holder goes away: the next attempt writes the change and /healthz turns green.
    h.backend.stall = None
    probes.run_for(5)
    assert h.cidrs() == ["169.254.0.0/16", "10.9.0.0/16"]
    assert h.runner.health().healthy


def test_a_drift_repair_that_hangs_fails_healthz_within_the_health_timeout() -> None:
    h = Harness(CONFIG, replace(FAST, health_timeout=10.0))
    h.runner.step()
    probes = Probes(h)
    h.backend.kernel = "flushed by another writer"
    h.backend.stall = probes.hang
    found = h.clock.now + 10  # the next resync sees the drift and owes a write from then
    probes.run_for(120)
    probes.check(found, 10.0)
    h.backend.stall = None
    probes.run_for(5)
    assert h.backend.kernel == h.backend.render(h.backend.applied[-1])
    assert h.runner.health().healthy


def test_a_first_sync_that_hangs_fails_healthz_within_the_health_timeout_of_the_start() -> None:
    h = Harness(CONFIG, replace(FAST, health_timeout=10.0))
    probes = Probes(h)
    started = h.clock.now
    h.backend.stall = probes.hang
    probes.run_for(100)
    probes.check(started, 10.0)
    assert not h.runner.health().ready


def test_a_request_made_while_a_sync_runs_is_not_served_by_it() -> None:
    h = Harness(CONFIG, replace(FAST, health_timeout=10.0))
    h.runner.step()
    h.advance(5)

    def request_midway() -> None:
        h.clock.now += 2
        h.runner.request_sync("config file changed")  # after the sync read the config
        h.clock.now += 9

    h.backend.stall = request_midway
    h.source.text = CHANGED
    h.runner.request_sync("config file changed")
    h.clock.now += 0.1
    h.runner.sync()  # succeeds after 11 s; the second request is 9 s old
    h.backend.stall = None
    assert h.runner.health().healthy
    h.clock.now += 1.5  # that request waited 10.5 s and no sync served it yet
    assert not h.runner.health().healthy
    h.runner.step()
    assert h.runner.health().healthy


def _readyz(h: Harness) -> tuple[int, str]:
    response = health_routes(h.runner.health)["/readyz"]()
    return response.status, response.body.decode()


@pytest.mark.parametrize(
    ("resync", "seconds"), [("1s", 1.0), ("10s", 10.0), ("5m", 300.0)], ids=["1s", "10s", "5m"]
)
def test_three_drift_rewrites_in_the_window_fail_readyz_log_the_fight_and_count_it(
    caplog: pytest.LogCaptureFixture, resync: str, seconds: float
) -> None:
    h = Harness(f"nonMasqueradeCIDRs: [10.8.0.0/14]\nresyncInterval: {resync}\n")
    h.runner.step()
    statuses = []
    with caplog.at_level(logging.WARNING, logger="test-runner"):
        for _ in range(4):
            h.backend.kernel = "rewritten by another agent"
            h.advance(seconds)
            statuses.append(_readyz(h)[0])
    assert h.metric("ip_masq_agent_rules_rewritten_total", reason="drift") == 4
    assert statuses == [200, 200, 503, 503]
    body = _readyz(h)[1]
    assert body.startswith(f"not ready: {FIGHT} (3 drift rewrites within ")
    assert "10.8.0.0" not in body
    # Liveness stays green: a restart would not stop the other writer.
    assert health_routes(h.runner.health)["/healthz"]().status == 200
    fights = [r for r in caplog.records if r.getMessage() == FIGHT]
    assert len(fights) == 1 and fights[0].levelno == logging.WARNING
    assert getattr(fights[0], "fields", {})["rewrites"] == 3
    assert h.metric("ip_masq_agent_writer_fights_total") == 1
    assert h.metric("ip_masq_agent_writer_fight") == 1


def test_readiness_returns_once_the_other_writer_has_stopped_for_the_window() -> None:
    h = Harness(CONFIG)  # resyncInterval 10s: the window is 5 minutes
    h.runner.step()
    rewrites = []
    for _ in range(3):
        h.backend.kernel = "rewritten by another agent"
        h.advance(10)
        rewrites.append(h.clock.now)
    assert _readyz(h)[0] == 503
    while _readyz(h)[0] == 503 and h.clock.now < rewrites[0] + 400:
        h.advance(1)
    assert h.clock.now - rewrites[0] == pytest.approx(301, abs=1)
    assert h.metric("ip_masq_agent_writer_fight") == 0
    assert h.metric("ip_masq_agent_writer_fights_total") == 1


def test_occasional_drift_is_repaired_without_calling_it_a_fight() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    for _ in range(6):  # a tamper every 160 s: never 3 within 5 minutes
        h.backend.kernel = "flushed once by an operator"
        h.advance(10)
        assert _readyz(h)[0] == 200
        for _ in range(15):
            h.advance(10)
    assert h.metric("ip_masq_agent_rules_rewritten_total", reason="drift") == 6
    assert h.metric("ip_masq_agent_writer_fights_total") == 0


def test_config_changes_and_retries_are_no_fight() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    for n in range(4):
        h.source.text = CONFIG.replace("10.8.0.0/14", f"10.{9 + n}.0.0/16")
        h.runner.request_sync("config file changed")
        h.advance(1)
    h.backend.fail = "boom"
    h.source.text = CHANGED
    h.runner.request_sync("config file changed")
    h.advance(1)
    h.backend.fail = None
    h.advance(1)
    assert len(h.backend.applied) == 6
    assert h.metric("ip_masq_agent_rules_rewritten_total", reason="retry") == 1
    assert _readyz(h)[0] == 200
    assert h.metric("ip_masq_agent_writer_fights_total") == 0


def test_a_writer_racing_our_writes_is_a_fight_too(caplog: pytest.LogCaptureFixture) -> None:
    # Undone between our write and our look, every time: the sync fails, and each write it
    # had to repeat is one more rewrite another writer forced.
    h = Harness(CONFIG)
    h.runner.step()
    h.backend.racing_writes = 3
    h.backend.kernel = "rewritten by another agent"
    with caplog.at_level(logging.WARNING, logger="test-runner"):
        h.advance(10)
    assert h.runner.last_error is not None  # three writes, all undone
    assert _readyz(h)[0] == 503
    assert h.metric("ip_masq_agent_writer_fights_total") == 1
    assert [r.getMessage() for r in caplog.records].count(FIGHT) == 1
    # The writer stops: the retry holds, and the fight ends with the window.
    h.advance(0.5)
    assert h.runner.last_error is None
    for _ in range(31):
        h.advance(10)
    assert _readyz(h)[0] == 200


def test_a_first_write_raced_once_is_no_fight() -> None:
    h = Harness(CONFIG)
    h.backend.racing_writes = 1
    h.runner.step()
    assert _readyz(h)[0] == 200
    assert h.metric("ip_masq_agent_writer_fights_total") == 0


@pytest.mark.parametrize(
    "bad",
    ["nonMasqueradeCIDRs: [10.0.0.1/8]\n", "cidrLimit: -1\n", "not: [yaml\n"],
    ids=["host-bits", "negative-limit", "not-yaml"],
)
def test_a_rejected_current_config_makes_the_pod_not_ready_and_a_fixed_one_ready(
    bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing routes to these pods: NotReady only shows `kubectl get ds` that a node's rules
    # do not follow the ConfigMap (and holds a rollout), while they keep the last good config.
    h = Harness(CONFIG, FAST)
    h.runner.step()
    assert _readyz(h)[0] == 200
    h.source.text = bad
    with caplog.at_level(logging.DEBUG, logger="test-runner"):
        h.runner.request_sync("config file changed")
        h.advance(1)
    events = [r.getMessage() for r in caplog.records if r.levelno >= logging.DEBUG]
    assert "config not used" in events and "sync ok" not in events, events
    (error,) = [r for r in caplog.records if r.getMessage() == "config not used"]
    assert error.fields["ready"] == "false until the file is fixed"  # type: ignore[attr-defined]
    status, body = _readyz(h)
    assert status == 503
    assert body.startswith("not ready: the config file is rejected; the rules keep the last good")
    assert h.runner.health().healthy  # liveness: a restart would change nothing
    assert h.cidrs() == ["169.254.0.0/16", "10.8.0.0/14"]
    h.source.text = CONFIG
    h.runner.request_sync("config file changed")
    h.advance(1)
    assert _readyz(h)[0] == 200
