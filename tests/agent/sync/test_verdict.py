"""The verdict as a pure function of one snapshot: no loop, no lock, no clock."""

from dataclasses import replace

import pytest

from ip_masq_agent.sync.drift_fight import Fight
from ip_masq_agent.sync.health_tracker import HealthTracker, Seen
from ip_masq_agent.sync.verdict import LivenessLimits, health_report

LIMITS = LivenessLimits(health_timeout=30.0, heartbeat_slack=30.0, failures_unhealthy=3)
SEEN = Seen(
    owed_since=None,
    beat=100.0,
    interval=10.0,
    failures=0,
    ready=True,
    rules="ipv4 2 destinations kept sha256=abc",
    config_state="current",
    config_rejected=False,
)


@pytest.mark.parametrize(
    ("seen", "now", "healthy", "ready", "first_line"),
    [
        pytest.param(SEEN, 140.0, True, True, "ok", id="idle-within-the-heartbeat"),
        pytest.param(
            SEEN,
            141.0,
            False,
            True,
            "unhealthy: the sync loop has not completed an iteration for 41s (bound 40s)",
            id="stalled-loop",
        ),
        pytest.param(
            replace(SEEN, owed_since=100.0),
            131.0,
            False,
            True,
            "unhealthy: a sync requested 31s ago has not succeeded",
            id="owed-too-long",
        ),
        pytest.param(
            replace(SEEN, failures=3),
            101.0,
            False,
            True,
            "unhealthy: 3 syncs failed in a row (the log says why)",
            id="failing",
        ),
        pytest.param(replace(SEEN, ready=False, rules=None), 101.0, True, False, "ok", id="new"),
        pytest.param(
            replace(SEEN, config_rejected=True), 101.0, True, False, "ok", id="rejected-config"
        ),
    ],
)
def test_health_report(seen: Seen, now: float, healthy: bool, ready: bool, first_line: str) -> None:
    report = health_report(seen, now, LIMITS, fight=None, backend="fake")
    assert (report.healthy, report.ready) == (healthy, ready)
    assert report.body.split("\n")[0] == first_line


def test_the_body_is_status_and_counts() -> None:
    fight = Fight(rewrites=3, span=20.0, window=300.0)
    report = health_report(SEEN, 101.0, LIMITS, fight=fight, backend="nftables")
    assert report.body == (
        "ok\nwarning: another writer is changing our rules (3 drift rewrites within 20s;"
        " a fight is 3 within 300s)\nbackend: nftables\nconfig: current\n"
        "rules: ipv4 2 destinations kept sha256=abc\n"
    )
    assert not report.ready
    assert report.unready.startswith("another writer is changing our rules (3 drift")


def test_a_rejected_config_explains_unreadiness_with_its_state() -> None:
    seen = replace(SEEN, config_rejected=True, config_state="invalid (the log says why)")
    report = health_report(seen, 101.0, LIMITS, fight=None, backend="fake")
    assert report.unready == (
        "the config file is rejected; the rules keep the last good config"
        " (config: invalid (the log says why))"
    )


def test_the_tracker_serves_owed_writes_only_from_before_the_sync_began() -> None:
    tracker = HealthTracker(started=0.0, interval=10.0)
    assert tracker.snapshot().owed_since == 0.0  # the first sync is owed from the start
    tracker.sync_started()
    tracker.queued_update(5.0)  # during the sync: not served by it
    tracker.updated("rules")
    seen = tracker.snapshot()
    assert (seen.owed_since, seen.ready, seen.rules, seen.failures) == (5.0, True, "rules", 0)
    tracker.sync_started()
    assert tracker.failed() == 1
    assert tracker.snapshot().owed_since == 5.0  # a failure serves nothing
    tracker.sync_started()
    tracker.updated("rules")
    assert tracker.snapshot().owed_since is None
