"""SyncRunner timing and decisions with a fake clock, a fake backend and an in-memory config."""

import itertools
import logging
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.config import AgentConfig, default_config, parse_config
from ip_masq_agent.config_keeper import ConfigKeeper
from ip_masq_agent.metrics import AgentMetrics
from ip_masq_agent.prefixes import Prefix
from ip_masq_agent.rules import DesiredRules, Masquerade, plan_rules
from ip_masq_agent.runner import SyncRunner, SyncTiming, family_digest, rules_summary


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1.7e9 + self.now


class FakeBackend:
    """Keeps 'kernel' text; counts applies; can be told to fail or be tampered with."""

    name = "fake"

    def __init__(self) -> None:
        self.kernel = ""
        self.applied: list[DesiredRules] = []
        self.observes = 0
        self.fail: str | None = None
        self.racing_writes = 0  # another writer flushes our rules right after this many writes
        self.stall: Callable[[], None] | None = None  # runs first in every write (a hung tool)

    def render(self, desired: DesiredRules) -> str:
        return repr(desired)

    def expected(self, desired: DesiredRules) -> str:
        return self.render(desired)

    def apply(self, desired: DesiredRules) -> None:
        if self.stall is not None:
            self.stall()
        if self.fail:
            raise ApplyError(self.fail)
        self.applied.append(desired)
        self.kernel = self.render(desired)
        if self.racing_writes:
            self.racing_writes -= 1
            self.kernel = "flushed by another writer"

    def observe(self) -> str:
        self.observes += 1
        return self.kernel

    def cleanup(self) -> None:
        self.kernel = ""


class MemorySource:
    name = "/etc/config/ip-masq-agent"

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.error: OSError | UnicodeDecodeError | None = None

    def read(self) -> str | None:
        if self.error:
            raise self.error
        return self.text


def _parse(text: str) -> AgentConfig:
    return parse_config(text, enable_ipv6=False, source="/etc/config/ip-masq-agent")


def _plan(config: AgentConfig) -> DesiredRules:
    return plan_rules(config, chain="IP-MASQ-AGENT", enable_ipv6=False, masquerade=Masquerade())


FAST = SyncTiming(min_interval=0.1, initial_backoff=0.5, max_backoff=4.0)


class Harness:
    def __init__(self, text: str | None, timing: SyncTiming = FAST) -> None:
        self.clock = FakeClock()
        self.backend = FakeBackend()
        self.source = MemorySource(text)
        self.registry = CollectorRegistry()
        self.metrics = AgentMetrics(self.registry, backend="fake")
        self.keeper = ConfigKeeper(
            source=self.source,
            parse=_parse,
            defaults=default_config(),
            metrics=self.metrics,
            logger=logging.getLogger("test-runner"),
        )
        self.runner = SyncRunner(
            config=self.keeper,
            plan=_plan,
            backend=self.backend,
            clock=self.clock,
            metrics=self.metrics,
            logger=logging.getLogger("test-runner"),
            timing=timing,
        )

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.runner.step()

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def cidrs(self) -> list[str]:
        rules = self.backend.applied[-1].family("ipv4")
        assert rules is not None
        return [str(n) for n in rules.non_masquerade]


CONFIG = "nonMasqueradeCIDRs: [10.8.0.0/14]\nresyncInterval: 10s\n"


def test_first_step_applies_and_becomes_ready() -> None:
    h = Harness(CONFIG)
    assert not h.runner.health().ready
    h.runner.step()
    assert h.cidrs() == ["169.254.0.0/16", "10.8.0.0/14"]
    assert h.runner.health().ready and h.runner.health().healthy
    assert h.metric("ip_masq_agent_rules_rewritten_total", reason="initial") == 1


def test_idle_resync_observes_but_does_not_rewrite() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    observes = h.backend.observes
    h.advance(9.9)
    assert h.backend.observes == observes  # not due yet
    h.advance(0.1)
    assert h.backend.observes == observes + 1
    assert len(h.backend.applied) == 1


def test_a_tiny_resync_interval_is_held_to_the_minimum_gap() -> None:
    h = Harness("resyncInterval: 1ns\n")
    h.runner.step()
    observes = h.backend.observes
    assert h.runner.step() == pytest.approx(0.1)
    h.advance(0.05)
    assert h.backend.observes == observes
    h.advance(0.06)
    assert h.backend.observes == observes + 1


def test_tampering_is_repaired_at_next_resync() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.backend.kernel = "someone flushed the chain"
    h.advance(5)
    assert len(h.backend.applied) == 1  # between resyncs nothing looks
    h.advance(5)
    assert len(h.backend.applied) == 2
    assert h.metric("ip_masq_agent_rules_rewritten_total", reason="drift") == 1


def test_a_writer_racing_the_write_is_never_taken_for_the_reference() -> None:
    h = Harness(CONFIG)
    h.backend.racing_writes = 1  # flushed between our write and our look
    h.runner.step()
    assert h.backend.kernel == h.backend.render(h.backend.applied[-1])
    assert len(h.backend.applied) == 2  # verified, rewritten at once
    # And a flush between two resyncs is repaired at the next one, every time.
    for _ in range(3):
        h.backend.kernel = "flushed by another writer"
        h.advance(10)
        assert h.backend.kernel == h.backend.render(h.backend.applied[-1])
    assert h.metric("ip_masq_agent_rules_rewritten_total", reason="drift") == 3


def test_a_writer_racing_for_a_while_fails_syncs_then_is_repaired_within_a_resync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.backend.racing_writes = 7  # two whole syncs of three writes each, then one more
    h.backend.kernel = "flushed by another writer"
    with caplog.at_level(logging.ERROR, logger="test-runner"):
        h.advance(10)
        assert h.backend.kernel == "flushed by another writer"
        assert "still shows other rules than written" in str(h.runner.last_error)
        h.advance(0.5)  # the retry
        assert h.runner.last_error is not None
        h.advance(1.0)
    assert h.runner.last_error is None
    assert h.backend.kernel == h.backend.render(h.backend.applied[-1])
    assert h.metric("ip_masq_agent_syncs_total", result="error") == 2


def test_burst_of_requests_coalesces_into_one_sync_after_min_gap() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.source.text = "nonMasqueradeCIDRs: [10.9.0.0/16]\nresyncInterval: 10s\n"
    h.clock.now += 0.01
    for _ in range(20):
        h.runner.request_sync("file event")
    assert h.runner.step() == pytest.approx(0.09)  # min gap since the last sync
    assert len(h.backend.applied) == 1
    h.advance(0.09)
    assert len(h.backend.applied) == 2
    assert h.cidrs() == ["169.254.0.0/16", "10.9.0.0/16"]
    h.advance(0.2)
    assert len(h.backend.applied) == 2  # the burst produced exactly one sync


def test_invalid_config_changes_nothing_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.source.text = "nonMasqueradeCIDRs: [10.0.0.1/8]\n"
    with caplog.at_level(logging.ERROR, logger="test-runner"):
        for _ in range(3):
            h.runner.request_sync("file event")
            h.advance(0.2)
        h.advance(10)
    assert len(h.backend.applied) == 1
    assert [r.getMessage() for r in caplog.records] == ["config not used"]
    assert h.metric("ip_masq_agent_config_reloads_total", result="invalid") == 1
    assert h.metric("ip_masq_agent_config_current") == 0
    health = h.runner.health()
    assert health.healthy  # the agent still holds the last good rules
    assert "'10.0.0.1/8' has host bits set (the network is 10.0.0.0/8); keeping the last" in str(
        h.keeper.problem
    )
    # /healthz says what state the config is in, never what the file holds.
    assert "config: invalid (the log says why); keeping the last good config" in health.body
    assert "10.0.0.1" not in health.body
    # The last good config keeps its resync interval and drift repair.
    h.backend.kernel = "tampered"
    h.advance(10)
    assert len(h.backend.applied) == 2
    assert h.cidrs() == ["169.254.0.0/16", "10.8.0.0/14"]


def test_missing_file_at_start_means_defaults() -> None:
    h = Harness(None)
    h.runner.step()
    assert h.cidrs() == ["169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert h.metric("ip_masq_agent_config_current") == 1


def test_file_disappearing_keeps_last_good_config_and_says_so() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.source.text = None
    h.runner.request_sync("file event")
    h.advance(0.2)
    assert len(h.backend.applied) == 1
    assert "file disappeared; keeping the last good config" in h.runner.health().body
    assert h.metric("ip_masq_agent_config_reloads_total", result="missing") == 1
    assert h.metric("ip_masq_agent_config_current") == 0


def test_unreadable_file_keeps_last_good_config() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.source.error = PermissionError(13, "Permission denied")
    h.runner.request_sync("file event")
    h.advance(0.2)
    assert len(h.backend.applied) == 1
    assert "cannot read (Permission denied)" in str(h.keeper.problem)
    assert "config: unreadable (the log says why); keeping the last" in h.runner.health().body


def test_binary_file_is_an_invalid_config_not_a_crash() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.source.error = UnicodeDecodeError("utf-8", b"\x82\x00", 0, 1, "invalid start byte")
    h.runner.request_sync("config file changed")
    h.advance(0.2)
    assert h.cidrs() == ["169.254.0.0/16", "10.8.0.0/14"]  # the last good config's rules
    assert len(h.backend.applied) == 1
    assert h.metric("ip_masq_agent_config_reloads_total", result="invalid") == 1
    assert "not UTF-8 text (byte 0: b'\\x82'); keeping the last good config" in str(
        h.keeper.problem
    )


def test_invalid_config_at_start_is_a_failed_sync() -> None:
    h = Harness("cidrLimit: -1\n")
    assert h.runner.sync() is False
    assert h.backend.applied == []
    assert not h.runner.health().ready
    assert h.metric("ip_masq_agent_syncs_total", result="no_config") == 1


def test_failure_retries_with_backoff_and_forces_full_rewrite() -> None:
    h = Harness(CONFIG)
    h.backend.fail = "iptables-restore: Another app is currently holding the xtables lock"
    h.runner.step()
    attempts = [h.clock.now]
    for _ in range(40):  # 4 s of fake time in 0.1 s steps
        before = h.metric("ip_masq_agent_syncs_total", result="error")
        h.advance(0.1)
        if h.metric("ip_masq_agent_syncs_total", result="error") > before:
            attempts.append(h.clock.now)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(attempts)]
    assert gaps == [0.5, 1.0, 2.0]  # doubling backoff, capped at max_backoff later
    health = h.runner.health()
    assert not health.healthy and "4 syncs failed in a row" in health.body
    assert not health.ready
    h.backend.fail = None
    h.advance(4.0)
    assert len(h.backend.applied) == 1
    assert h.runner.health().healthy and h.runner.health().ready


def test_a_failure_after_success_rewrites_even_an_unchanged_plan() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.backend.fail = "boom"
    h.runner.request_sync("file event")
    h.source.text = CONFIG.replace("10.8.0.0/14", "10.9.0.0/16")
    h.advance(0.1)
    h.source.text = CONFIG  # back to what the kernel already has
    h.backend.fail = None
    h.advance(0.5)
    assert len(h.backend.applied) == 2  # forced: the failed write may have left anything
    assert h.metric("ip_masq_agent_rules_rewritten_total", reason="retry") == 1


def test_healthz_fails_when_a_queued_sync_waits_too_long() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    h.advance(35)  # idle, the loop iterating: healthy, nothing was asked
    assert h.runner.health().healthy
    h.runner.request_sync("file event")
    h.clock.now += 31  # the request sat there: the loop is stuck
    health = h.runner.health()
    assert not health.healthy and "a sync requested 31s ago has not succeeded" in health.body
    h.runner.step()
    assert h.runner.health().healthy


def test_rule_summary_logged_only_when_it_changes(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(CONFIG)
    with caplog.at_level(logging.INFO, logger="test-runner"):
        for _ in range(3):
            h.advance(10)
    assert [r.getMessage() for r in caplog.records].count("rules in place") == 1
    assert h.metric("ip_masq_agent_desired_cidrs", family="ipv4") == 2


def test_the_rules_summary_is_bounded_and_tells_lists_apart() -> None:
    def desired(cidrs: list[str]) -> DesiredRules:
        config = AgentConfig(
            non_masquerade_cidrs=tuple(map(Prefix.parse, cidrs)),
            cidr_limit=len(cidrs),
        )
        return plan_rules(config, chain="IP-MASQ-AGENT", enable_ipv6=True, masquerade=Masquerade())

    many = [f"11.{i // 256}.{i % 256}.0/24" for i in range(10_000)]
    line = rules_summary(desired(many))
    assert line.startswith(
        "ipv4: 10001 CIDRs 169.254.0.0/16,11.0.0.0/24,11.0.1.0/24,11.0.2.0/24,+9997 more sha256="
    )
    assert "; ipv6: 1 CIDRs fe80::/10 sha256=" in line
    assert len(line) < 200
    # One CIDR changed at the end of the list: the named ones are the same, the digest is not.
    other = rules_summary(desired([*many[:-1], "12.0.0.0/24"]))
    assert other != line
    assert other.split(" sha256=")[0] == line.split(" sha256=")[0]


def test_the_desired_list_digest_is_one_series_per_family_that_follows_the_config() -> None:
    h = Harness(CONFIG)
    h.runner.step()
    first = tuple(map(Prefix.parse, ("169.254.0.0/16", "10.8.0.0/14")))
    digest = family_digest(first)
    assert h.metric("ip_masq_agent_desired_cidrs_info", family="ipv4", sha256=digest) == 1
    h.source.text = "nonMasqueradeCIDRs: [10.8.0.0/14, 10.200.0.0/16]\nresyncInterval: 10s\n"
    h.advance(10)
    assert h.cidrs() == ["169.254.0.0/16", "10.8.0.0/14", "10.200.0.0/16"]
    changed = family_digest(tuple(map(Prefix.parse, h.cidrs())))
    assert changed != digest
    series = [
        s.labels
        for family in h.registry.collect()
        if family.name == "ip_masq_agent_desired_cidrs_info"
        for s in family.samples
    ]
    # The old list's series is gone: a rollout counts nodes per digest, each node once.
    assert series == [{"family": "ipv4", "sha256": changed}]
    # /healthz and the log name the same digest.
    assert f"sha256={changed}" in h.runner.health().body


def test_healthz_fails_when_the_loop_stops_iterating_whatever_it_is_stuck_on() -> None:
    h = Harness(CONFIG)  # resyncInterval 10s: an iteration at least every 10 s
    h.runner.step()
    h.clock.now += 39  # no step for 39 s: within 10 s + 30 s of slack
    assert h.runner.health().healthy
    h.clock.now += 2  # nothing queued, nothing failed: only the heartbeat tells
    health = h.runner.health()
    assert not health.healthy
    assert "the sync loop has not completed an iteration for 41s (bound 40s)" in health.body
    h.runner.step()
    assert h.runner.health().healthy


def test_health_body_has_counts_not_cidrs() -> None:
    h = Harness("nonMasqueradeCIDRs: [10.8.0.0/14, 192.168.7.0/24]\n")
    h.runner.step()
    digest = family_digest(h.backend.applied[-1].families[0].non_masquerade)
    assert h.runner.health().body == (
        f"ok\nbackend: fake\nconfig: current\nrules: ipv4 3 destinations kept sha256={digest}\n"
    )


def test_the_logged_retry_is_when_the_next_attempt_comes(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness("resyncInterval: 1s\n")  # the resync comes long before a 4 s backoff
    h.backend.fail = "boom"
    with caplog.at_level(logging.ERROR, logger="test-runner"):
        h.runner.step()
        for _ in range(4):
            h.advance(1.0)
    failed = [r for r in caplog.records if r.getMessage() == "sync failed"]
    retries = [getattr(r, "fields", {})["retry_in"] for r in failed]
    assert retries[-1] == "1.0s"  # not the 4.0s backoff: the resync retries first
    assert len(retries) == 5  # and it did, every second
