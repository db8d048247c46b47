"""The reconcile loop: events request syncs, one runner coalesces them and repairs drift."""

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from ip_masq_agent.backends.base import ApplyError, Backend
from ip_masq_agent.config import AgentConfig, Network
from ip_masq_agent.config_keeper import ConfigKeeper
from ip_masq_agent.drift_fight import FIGHT_EVENT, FIGHT_REWRITES, FIGHT_WINDOW, DriftFight
from ip_masq_agent.logs import log_event
from ip_masq_agent.metrics import AgentMetrics
from ip_masq_agent.quoting import quoted
from ip_masq_agent.rules import DesiredRules
from ip_masq_agent.sync_health import LivenessLimits, SyncHealth


class Clock(Protocol):
    """Time as the runner sees it: monotonic for scheduling, wall time for metrics."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


@dataclass(frozen=True)
class SyncTiming:
    """The runner's knobs (seconds)."""

    min_interval: float = 0.1  # gap between syncs: coalesces a burst of file events
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    # A write owed (requested, or found necessary) and not done after this makes /healthz
    # fail, however long each attempt takes (a tool waiting on a held lock until its timeout).
    health_timeout: float = 30.0
    # The loop completes an iteration at least every resyncInterval (at most an hour, its
    # longest sleep); this much more without one and /healthz fails, whatever it is stuck on.
    heartbeat_slack: float = 30.0
    failures_unhealthy: int = 3  # this many failed syncs in a row make /healthz fail
    # This many drift rewrites within the window (or as many resync intervals, if longer)
    # mean another writer keeps undoing ours: /readyz fails while they do.
    fight_rewrites: int = FIGHT_REWRITES
    fight_window: float = FIGHT_WINDOW


@dataclass(frozen=True)
class HealthReport:
    """What /healthz and /readyz answer."""

    healthy: bool
    ready: bool
    body: str
    unready: str = "no sync succeeded yet"  # why /readyz fails, when it does


Planner = Callable[[AgentConfig], DesiredRules]


class OtherBackends(Protocol):
    """Our other backends on the node (backends.migration): `sweep` removes their rules."""

    def sweep(self) -> list[str]: ...


# Writes in one sync before a writer racing ours makes it a failed sync (retried with backoff).
WRITE_ATTEMPTS: Final = 3


def first_difference(expected: str, observed: str) -> str:
    """Where two views part, briefly: the expected and the observed text from there on."""
    index = next(
        (i for i, (a, b) in enumerate(zip(expected, observed, strict=False)) if a != b),
        min(len(expected), len(observed)),
    )
    start = max(0, index - 20)
    return f"want {quoted(expected[start:])}, kernel has {quoted(observed[start:])}"


# CIDRs named in the summary per family; the rest is counted and digested, so the line stays
# short at 10,000 CIDRs (it printed all of them: ~150 KB per log line and /healthz answer).
SUMMARY_CIDRS: Final = 4


def family_digest(networks: tuple[Network, ...]) -> str:
    """A short digest of the whole list, in order: equal on two nodes iff their lists are."""
    digest = hashlib.sha256()
    for network in networks:
        digest.update(f"{network.with_prefixlen}\n".encode())
    return digest.hexdigest()[:12]


def plan_digests(desired: DesiredRules) -> dict[str, str]:
    """`family_digest` of each family: once per plan (printing 10,000 networks takes ~50 ms)."""
    return {rules.family: family_digest(rules.non_masquerade) for rules in desired.families}


def rules_summary(desired: DesiredRules, digests: Mapping[str, str] | None = None) -> str:
    """One bounded line: per family the count, the first few destinations, a digest of all.

    `digests` are the plan's own `plan_digests`, when the caller has them already.
    """
    digests = plan_digests(desired) if digests is None else digests
    parts = []
    for rules in desired.families:
        networks = rules.non_masquerade
        shown = [n.with_prefixlen for n in networks[:SUMMARY_CIDRS]]
        if len(networks) > SUMMARY_CIDRS:
            shown.append(f"+{len(networks) - SUMMARY_CIDRS} more")
        listed = f" {','.join(shown)}" if shown else ""
        parts.append(
            f"{rules.family}: {len(networks)} CIDRs{listed} sha256={digests[rules.family]}"
        )
    return "; ".join(parts)


class SyncRunner:
    """kube-proxy-style sync runner around one backend.

    `request_sync` only marks a sync as wanted; `step` runs one when it is due: after the
    minimum gap for requests, at the retry time after a failure, and at the latest every
    resyncInterval. A sync re-reads the config, plans the rules and rewrites them only when
    the plan changed, the kernel no longer shows what it showed after the last write, or
    the last sync failed.
    """

    def __init__(
        self,
        *,
        config: ConfigKeeper,
        plan: Planner,
        backend: Backend,
        clock: Clock,
        metrics: AgentMetrics,
        logger: logging.Logger,
        timing: SyncTiming = SyncTiming(),
        others: OtherBackends | None = None,
        release_memory: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._others = others
        self._swept = False
        self._release_memory = release_memory
        self._plan = plan
        self._backend = backend
        self._clock = clock
        self._metrics = metrics
        self._log = logger
        self._timing = timing

        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._queued_at: float | None = None  # scheduling only: the health tracker keeps ages
        now = clock.monotonic()
        self._interval = config.defaults.resync_interval
        limits = LivenessLimits(
            timing.health_timeout, timing.heartbeat_slack, timing.failures_unhealthy
        )
        self._health = SyncHealth(limits, started=now, interval=self._loop_period())
        self._fight = DriftFight(timing.fight_rewrites, timing.fight_window)
        metrics.writer_fight.set_function(
            lambda: 0.0 if self._fight.fight(clock.monotonic()) is None else 1.0
        )
        self._last_sync_at = now - timing.min_interval
        self._next_resync = now
        self._retry_at: float | None = None
        self._backoff = timing.initial_backoff

        self._applied: DesiredRules | None = None
        self._expected: tuple[DesiredRules, str] | None = None  # the plan and its kernel view
        self._force = True
        self._summary: str | None = None
        self._plan_memo: tuple[AgentConfig, DesiredRules] | None = None
        self._summarised: DesiredRules | None = None
        self._digests: dict[str, str] = {}
        self._last_error: str | None = None
        self._rule_counts: str | None = None

    # --- requests and scheduling -------------------------------------------------------

    def request_sync(self, reason: str) -> None:
        """Ask for a sync soon (thread-safe); bursts collapse into one sync."""
        self._health.requested(self._clock.monotonic())
        with self._lock:
            if self._queued_at is None:
                self._queued_at = self._clock.monotonic()
                self._metrics.last_queued.set(self._clock.wall())
                log_event(self._log, logging.DEBUG, "sync requested", reason=reason)
        self._wake.set()

    def due_at(self) -> float:
        """Monotonic time of the next sync."""
        with self._lock:
            due = self._next_resync
            if self._queued_at is not None:
                due = min(due, self._last_sync_at + self._timing.min_interval)
            if self._retry_at is not None:
                due = min(due, self._retry_at)
            return due

    def step(self) -> float:
        """Sync if one is due; return seconds until the next one is due."""
        if self._clock.monotonic() >= self.due_at():
            self.sync()
        now = self._clock.monotonic()
        self._health.iterated(now, self._loop_period())
        return max(0.0, self.due_at() - now)

    def _loop_period(self) -> float:
        """The longest the loop sleeps between iterations (resyncInterval, held to the gap)."""
        return max(self._interval, self._timing.min_interval)

    def run(self) -> None:
        """Sync until `stop`; returns within the time one sync takes."""
        while not self._stopping:
            self._wake.clear()
            delay = self.step()
            if self._stopping:
                break
            # Event.wait refuses timeouts past threading.TIMEOUT_MAX (OverflowError); an hour
            # is as good as any longer sleep, the loop just looks again.
            self._wake.wait(timeout=min(delay, 3600.0))

    def stop(self) -> None:
        """Make `run` return (thread-safe, e.g. from a signal handler)."""
        self._stopping = True
        self._wake.set()

    # --- the sync itself -----------------------------------------------------------------

    def sync(self) -> bool:
        """One sync now; True when the kernel holds the desired rules afterwards."""
        started = self._clock.monotonic()
        self._health.sync_started()
        with self._lock:
            self._queued_at = None
            self._last_sync_at = started
        config = self._config.load()
        interval = (config or self._config.defaults).resync_interval
        self._interval = interval
        # A valid but tiny resyncInterval (`1ns`) would make the loop spin on the kernel tools;
        # the minimum gap between syncs bounds it as it bounds bursts of file events.
        self._next_resync = started + max(interval, self._timing.min_interval)
        if config is None:
            return self._failed(started, "no_config", self._config.problem or "no config")
        # The keeper hands back the same object while the file is unchanged: an idle resync
        # then re-plans nothing (10,000 CIDRs cost milliseconds to plan and to summarise).
        if self._plan_memo is not None and self._plan_memo[0] is config:
            return self._sync_plan(started, self._plan_memo[1])
        # What the old plan derived goes before the new one is built: at 10,000 CIDRs each
        # is megabytes, and old and new would otherwise meet at the peak.
        self._plan_memo = self._expected = None
        desired = self._plan(config)
        self._plan_memo = (config, desired)
        try:
            return self._sync_plan(started, desired)
        finally:
            self._release_memory()

    def _sync_plan(self, started: float, desired: DesiredRules) -> bool:
        try:
            expected = self._expected_view(desired)
            reason = self._rewrite_reason(desired, expected)
            if reason is not None:
                self._health.write_needed(started)
                if reason == "drift":
                    self._rewrite_forced(desired)
                # The kernel tool's memory and the rules' own count against the pod's limit
                # too: what planning and rendering freed goes back first.
                self._release_memory()
                self._write(desired, expected)
                self._metrics.rules_rewritten.labels(reason=reason).inc()
                log_event(
                    self._log,
                    logging.INFO if reason != "drift" else logging.WARNING,
                    "rules written",
                    reason=reason,
                    backend=self._backend.name,
                )
        except ApplyError as err:
            return self._failed(started, "error", str(err))
        self._succeeded(started, desired)
        self._sweep_others()
        return True

    def _sweep_others(self) -> None:
        # Only here, with our own rules verified in place: another backend's rules go last,
        # so a switch never has a moment with neither, nor drops them with no good config.
        if self._others is None:
            return
        when = "reappeared" if self._swept else "switch"
        try:
            removed = self._others.sweep()
        except ApplyError as err:
            log_event(
                self._log, logging.ERROR, "cannot remove another backend's rules", error=str(err)
            )
            return
        self._swept = True
        for name in removed:
            self._metrics.other_backend_removals.labels(backend=name, when=when).inc()
            log_event(
                self._log,
                logging.WARNING,
                "removed rules of another backend",
                backend=name,
                when=when,
            )

    def _rewrite_forced(self, desired: DesiredRules) -> None:
        """Another writer changed our rules (found at a resync, or right after our write)."""
        fight = self._fight.drift_rewritten(self._clock.monotonic(), self._loop_period())
        if fight is not None:
            self._metrics.writer_fights.inc()
            log_event(
                self._log,
                logging.WARNING,
                FIGHT_EVENT,
                rewrites=fight.rewrites,
                within=f"{fight.span:.0f}s",
                window=f"{fight.window:.0f}s",
                backend=self._backend.name,
                chain=desired.chain,
                hint="find the other agent or script writing this chain (or table) and stop it",
            )

    def _expected_view(self, desired: DesiredRules) -> str:
        memo = self._expected
        if memo is None or memo[0] is not desired:
            memo = self._expected = (desired, self._backend.expected(desired))
        return memo[1]

    def _write(self, desired: DesiredRules, expected: str) -> None:
        """Apply until the kernel shows exactly `expected`; ApplyError when it never does."""
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                self._rewrite_forced(desired)  # undone between our write and our look
            self._backend.apply(desired)
            self._applied = desired
            observed = self._backend.observe()
            if observed == expected:
                return
        difference = first_difference(expected, observed)
        raise ApplyError(
            f"after {WRITE_ATTEMPTS} writes the kernel still shows other rules than written"
            f" (another writer changing them?); first difference: {difference}"
        )

    def _rewrite_reason(self, desired: DesiredRules, expected: str) -> str | None:
        if self._applied is None:
            return "initial"
        if self._force:
            return "retry"
        if desired != self._applied:
            return "config"
        if self._backend.observe() != expected:
            return "drift"
        return None

    def _succeeded(self, started: float, desired: DesiredRules) -> None:
        self._force = False
        self._last_error = None
        self._retry_at = None
        self._backoff = self._timing.initial_backoff
        if desired is not self._summarised:
            self._summarised = desired
            self._report_plan(desired)
        self._health.sync_succeeded(self._rule_counts)
        self._metrics.syncs.labels(result="ok").inc()
        self._metrics.last_success.set(self._clock.wall())
        self._metrics.sync_duration.observe(self._clock.monotonic() - started)
        if self._config.problem is None:
            log_event(self._log, logging.DEBUG, "sync ok")
        else:
            # Not "ok": the rules stand, but not for the file as it is now.
            log_event(self._log, logging.DEBUG, "rules kept", config=self._config.state)

    def _report_plan(self, desired: DesiredRules) -> None:
        """Log and export a plan now in place, if its summary differs from the last one."""
        digests = plan_digests(desired)
        summary = rules_summary(desired, digests)
        if summary == self._summary:
            return
        log_event(self._log, logging.INFO, "rules in place", rules=summary)
        self._summary = summary
        # Counts and the digest /metrics exports (a fleet compares nodes by it): no CIDR.
        self._rule_counts = ", ".join(
            f"{rules.family} {len(rules.non_masquerade)} destinations kept"
            f" sha256={digests[rules.family]}"
            for rules in desired.families
        )
        for rules in desired.families:
            self._metrics.desired_cidrs.labels(family=rules.family).set(len(rules.non_masquerade))
            self._export_digest(rules.family, digests[rules.family])

    def _export_digest(self, family: str, digest: str) -> None:
        # One series per family: the old list's digest goes when the new one comes, so a
        # fleet mid-rollout counts its nodes per digest.
        old = self._digests.get(family)
        if old == digest:
            return
        if old is not None:
            self._metrics.desired_digest.remove(family, old)
        self._metrics.desired_digest.labels(family=family, sha256=digest).set(1)
        self._digests[family] = digest

    def _failed(self, started: float, result: str, error: str) -> bool:
        self._force = True  # whatever the kernel holds now, write it whole next time
        # What this sync owed stays owed, with its age: the tracker keeps it until a success.
        # The retry comes with backoff, not at the minimum gap: a held lock is not hammered.
        failures = self._health.sync_failed()
        self._last_error = error
        now = self._clock.monotonic()
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self._timing.max_backoff)
        self._metrics.syncs.labels(result=result).inc()
        self._metrics.sync_duration.observe(now - started)
        log_event(
            self._log,
            logging.ERROR,
            "sync failed",
            error=error,
            failures=failures,
            # When the next attempt really comes: the resync may come before the backoff.
            retry_in=f"{max(0.0, self.due_at() - now):.1f}s",
        )
        return False

    @property
    def last_error(self) -> str | None:
        """Why the last sync failed; None after a success."""
        return self._last_error

    # --- health --------------------------------------------------------------------------

    def health(self) -> HealthReport:
        """Healthy unless the loop stalls, an owed write waits too long or syncs keep failing;
        ready after the first success, unless another writer keeps undoing our rules.

        The body is a status line and counts: no CIDR, no config text, no tool output (any
        pod that reaches the port could read them); the log has the details.
        """
        now = self._clock.monotonic()
        problems = self._health.problems(now)
        fight = self._fight.fight(now)
        lines = [f"unhealthy: {p}" for p in problems] or ["ok"]
        if fight is not None:
            lines.append(f"warning: {FIGHT_EVENT} ({fight.describe()})")
        lines.append(f"backend: {self._backend.name}")
        lines.append(f"config: {self._config.state}")
        rules = self._health.rules
        if rules is not None:
            lines.append(f"rules: {rules}")
        ready = self._health.ready
        if not ready:
            unready = "no sync succeeded yet"
        elif self._config.problem is not None:
            # The rules keep the last good config (safe: nothing routes to these pods); NotReady
            # is what makes a node whose rules ignore the ConfigMap show in `kubectl get ds`,
            # and it holds a DaemonSet rollout there.
            ready = False
            unready = (
                "the config file is rejected; the rules keep the last good config"
                f" (config: {self._config.state})"
            )
        elif fight is not None:
            ready = False
            unready = f"{FIGHT_EVENT} ({fight.describe()})"
        else:
            unready = ""
        return HealthReport(
            healthy=not problems, ready=ready, body="\n".join(lines) + "\n", unready=unready
        )
