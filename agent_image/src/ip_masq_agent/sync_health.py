"""Liveness as timestamps: the loop reports requests, attempts and results; a verdict on demand."""

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class LivenessLimits:
    """When /healthz fails (seconds, except the count)."""

    health_timeout: float  # a write owed for longer than this
    heartbeat_slack: float  # the loop silent for resyncInterval plus this
    failures_unhealthy: int  # this many failed syncs in a row


class SyncHealth:
    """What the sync loop reported last, read by the HTTP threads; every field under one lock.

    The age that matters is that of the oldest write still owed: a request (config change,
    signal, the start itself), or a rewrite a sync found necessary (drift, a retry). It is kept
    through failed attempts, whatever they take, and cleared only by a sync that succeeds
    after it was owed; a request arriving while a sync runs is not served by that sync, which
    may have read the config before it.
    """

    def __init__(self, limits: LivenessLimits, *, started: float, interval: float) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._owed_since: float | None = started  # the first sync is owed from the start
        self._owed_during: float | None = None  # first request since the running sync began
        self._syncing = False
        self._beat = started
        self._interval = interval
        self._failures = 0
        self._ready = False
        self._rules: str | None = None

    # --- reports from the loop (and `requested` from any thread) ---------------------------

    def requested(self, at: float) -> None:
        """Someone asked for a sync."""
        with self._lock:
            if self._owed_since is None:
                self._owed_since = at
            if self._syncing and self._owed_during is None:
                self._owed_during = at

    def sync_started(self) -> None:
        with self._lock:
            self._syncing = True
            self._owed_during = None

    def write_needed(self, at: float) -> None:
        """The running sync found the kernel must change (drift, retry, new plan)."""
        with self._lock:
            if self._owed_since is None or at < self._owed_since:
                self._owed_since = at

    def sync_succeeded(self, rules: str | None) -> None:
        """Everything owed before this sync started is served; `rules` is the body's count line."""
        with self._lock:
            self._owed_since = self._owed_during
            self._owed_during = None
            self._syncing = False
            self._failures = 0
            self._ready = True
            self._rules = rules

    def sync_failed(self) -> int:
        """Nothing owed is served; returns the failures in a row."""
        with self._lock:
            self._syncing = False
            self._owed_during = None
            self._failures += 1
            return self._failures

    def iterated(self, at: float, interval: float) -> None:
        """The loop completed an iteration; it completes one at least every `interval`."""
        with self._lock:
            self._beat = at
            self._interval = interval

    # --- the verdict, computed when asked ------------------------------------------------

    def problems(self, now: float) -> list[str]:
        """Why /healthz fails now; empty when it does not."""
        with self._lock:
            owed_since, beat, interval = self._owed_since, self._beat, self._interval
            failures = self._failures
        limits = self._limits
        problems = []
        # Event.wait sleeps at most an hour, and never less than the loop's minimum gap.
        stall_bound = min(interval, 3600.0) + limits.heartbeat_slack
        if now - beat > stall_bound:
            problems.append(
                f"the sync loop has not completed an iteration for {now - beat:.0f}s"
                f" (bound {stall_bound:.0f}s)"
            )
        if owed_since is not None and now - owed_since > limits.health_timeout:
            problems.append(f"a sync requested {now - owed_since:.0f}s ago has not succeeded")
        if failures >= limits.failures_unhealthy:
            problems.append(f"{failures} syncs failed in a row (the log says why)")
        return problems

    @property
    def ready(self) -> bool:
        """A sync has succeeded since the start."""
        with self._lock:
            return self._ready

    @property
    def rules(self) -> str | None:
        """The rules line of the last successful sync, for the body."""
        with self._lock:
            return self._rules
