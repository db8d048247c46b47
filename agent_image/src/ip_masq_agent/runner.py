"""The sync loop: a scheduler running one reconcile pass, reporting to a health tracker.

Lock discipline (which field, which lock, who writes, who reads):
- `Scheduler` fields (queued ask, last run, next run, retry, period): the scheduler's lock.
  Written by `request_sync` (any thread: the watcher, SIGHUP's thread) and by the loop thread;
  read by the loop thread.
- `HealthTracker` fields (owed write, heartbeat, failures, ready, rules line, config state):
  the tracker's lock. Written by the loop thread (and `request_sync`); read by the HTTP
  threads through `health()`, one snapshot per answer.
- `DriftFight` fields (recent drift rewrites, window): the fight's lock. Written by the loop
  thread; read by the HTTP threads and the metrics scrape (`writer_fight` gauge).
- Everything else (`Reconciler`'s memos, `Backoff`, `PlanReport`, the sweep, `last_error`,
  the `ConfigKeeper`): the loop thread alone; the HTTP threads read none of it, the config's
  state reaches them as the tracker's copy.
Each of those locks guards `Shared` fields that raise when touched without it
(sync.guarded), so a test taking a path that forgets the lock fails. No code holds two of them
at once (each method takes one and lets go), so there is no order to keep and no deadlock;
none is held while the kernel tools run, so a probe never waits on a hung write.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.config_keeper import ConfigKeeper
from ip_masq_agent.deferred_metrics import Metrics
from ip_masq_agent.logs import log_event
from ip_masq_agent.sync.drift_fight import FIGHT_REWRITES, FIGHT_WINDOW, DriftFight
from ip_masq_agent.sync.health_tracker import HealthTracker
from ip_masq_agent.sync.pass_reports import PassReports
from ip_masq_agent.sync.plan_report import PlanReport
from ip_masq_agent.sync.reconciler import Planner, Reconciler, Synced, SyncFailed
from ip_masq_agent.sync.scheduler import Backoff, Clock, Scheduler, SystemClock
from ip_masq_agent.sync.sweep import OtherBackends, OtherBackendsSweep
from ip_masq_agent.sync.verdict import HealthReport, LivenessLimits, health_report

# The entry point builds the runner with the real clock and serves its HealthReport.
__all__ = ["HealthReport", "SyncRunner", "SyncTiming", "SystemClock"]


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


class SyncRunner:
    """kube-proxy-style sync runner around one backend.

    `request_sync` only marks a sync as wanted; `step` runs one when it is due: after the
    minimum gap for requests, at the retry time after a failure, and at the latest every
    resyncInterval. A sync is one `Reconciler` pass; its outcome goes to the metrics, the
    log and the health tracker, whose verdict `health()` computes when asked.
    """

    def __init__(
        self,
        *,
        config: ConfigKeeper,
        plan: Planner,
        backend: Backend,
        clock: Clock,
        metrics: Metrics,
        logger: logging.Logger,
        timing: SyncTiming = SyncTiming(),
        others: OtherBackends | None = None,
        release_memory: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._backend = backend
        self._clock = clock
        self._metrics = metrics
        self._log = logger
        self._limits = LivenessLimits(
            timing.health_timeout, timing.heartbeat_slack, timing.failures_unhealthy
        )
        self._scheduler = Scheduler(
            self._sync,
            clock=clock,
            min_interval=timing.min_interval,
            period=config.defaults.resync_interval,
        )
        self._backoff = Backoff(timing.initial_backoff, timing.max_backoff)
        self._tracker = HealthTracker(
            started=clock.monotonic(), interval=self._scheduler.longest_gap()
        )
        self._fight = DriftFight(timing.fight_rewrites, timing.fight_window)
        metrics.writer_fight.set_function(
            lambda: 0.0 if self._fight.fight(clock.monotonic()) is None else 1.0
        )
        self._reports = PassReports(
            config=config,
            scheduler=self._scheduler,
            tracker=self._tracker,
            fight=self._fight,
            metrics=metrics,
            logger=logger,
            backend=backend.name,
        )
        self._reconciler = Reconciler(
            config=config,
            plan=plan,
            backend=backend,
            events=self._reports,
            release_memory=release_memory,
        )
        self._plan_report = PlanReport(metrics, logger)
        self._sweep = OtherBackendsSweep(others, metrics, logger)
        self._last_error: str | None = None

    # --- requests and scheduling -------------------------------------------------------

    def request_sync(self, reason: str) -> None:
        """Ask for a sync soon (thread-safe); bursts collapse into one sync."""
        self._tracker.queued_update(self._clock.monotonic())
        if self._scheduler.run():
            self._metrics.last_queued.set(self._clock.wall())
            log_event(self._log, logging.DEBUG, "sync requested", reason=reason)

    def due_at(self) -> float:
        """Monotonic time of the next sync."""
        return self._scheduler.due_at()

    def step(self) -> float:
        """Sync if one is due; return seconds until the next one is due."""
        delay = self._scheduler.step()
        self._tracker.iterated(self._clock.monotonic(), self._scheduler.longest_gap())
        return delay

    def run(self) -> None:
        """Sync until `stop`; returns within the time one sync takes."""
        self._scheduler.loop(self.step)

    def stop(self) -> None:
        """Make `run` return (thread-safe, e.g. from a signal handler)."""
        self._scheduler.stop()

    # --- one sync: a reconcile pass and its outcome --------------------------------------

    def sync(self) -> bool:
        """One sync now; True when the kernel holds the desired rules afterwards."""
        return self._scheduler.run_now()

    def _sync(self) -> bool:
        started = self._reports.started = self._clock.monotonic()
        self._tracker.sync_started()
        outcome = self._reconciler.reconcile()
        if isinstance(outcome, SyncFailed):
            return self._failed(started, outcome)
        if outcome.written is not None:
            self._metrics.rules_rewritten.labels(reason=outcome.written).inc()
            log_event(
                self._log,
                logging.INFO if outcome.written != "drift" else logging.WARNING,
                "rules written",
                reason=outcome.written,
                backend=self._backend.name,
            )
        self._succeeded(started, outcome)
        self._sweep.after_success()
        return True

    def _succeeded(self, started: float, outcome: Synced) -> None:
        self._last_error = None
        self._backoff.reset()
        self._plan_report.in_place(outcome.desired)
        self._tracker.updated(self._plan_report.rule_counts)
        self._metrics.syncs.labels(result="ok").inc()
        self._metrics.last_success.set(self._clock.wall())
        self._metrics.sync_duration.observe(self._clock.monotonic() - started)
        if self._config.problem is None:
            log_event(self._log, logging.DEBUG, "sync ok")
        else:
            # Not "ok": the rules stand, but not for the file as it is now.
            log_event(self._log, logging.DEBUG, "rules kept", config=self._config.state)

    def _failed(self, started: float, failure: SyncFailed) -> bool:
        # What this sync owed stays owed, with its age: the tracker keeps it until a success.
        # The retry comes with backoff, not at the minimum gap: a held lock is not hammered.
        failures = self._tracker.failed()
        self._last_error = failure.error
        now = self._clock.monotonic()
        self._scheduler.retry_after(self._backoff.next())
        self._metrics.syncs.labels(result=failure.result).inc()
        self._metrics.sync_duration.observe(now - started)
        log_event(
            self._log,
            logging.ERROR,
            "sync failed",
            error=failure.error,
            failures=failures,
            # When the next attempt really comes: the resync may come before the backoff.
            retry_in=f"{max(0.0, self.due_at() - now):.1f}s",
        )
        return False

    @property
    def last_error(self) -> str | None:
        """Why the last sync failed; None after a success."""
        return self._last_error

    # --- health, computed where it is served (the HTTP threads) ------------------------

    def health(self) -> HealthReport:
        """/healthz's and /readyz's answer now, from the tracker's snapshot (sync.verdict)."""
        now = self._clock.monotonic()
        return health_report(
            self._tracker.snapshot(),
            now,
            self._limits,
            fight=self._fight.fight(now),
            backend=self._backend.name,
        )
