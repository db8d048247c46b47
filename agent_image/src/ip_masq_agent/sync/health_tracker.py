"""Liveness as timestamps: the loop reports what happened; a consistent snapshot on demand.

The loop reports a queued update, a sync started, a write found necessary, an update (a sync
that succeeded), a failure, an iteration and the config's state; it computes no verdict. The
HTTP threads take a `Seen` snapshot and `verdict.health_report` judges it where it is served.

The age that matters is that of the oldest write still owed: a request (config change,
signal, the start itself), or a rewrite a sync found necessary (drift, a retry). It is kept
through failed attempts, whatever they take, and cleared only by a sync that succeeds after it
was owed; a request arriving while a sync runs is not served by that sync, which may have
read the config before it.

Lock discipline: every field is `Shared`, guarded by `self.lock` (checked on every access).
Writers: `queued_update` from any thread (a watcher, a signal's thread), every other report
from the loop thread. Readers: `snapshot`, from the HTTP threads, copies all fields in one
hold, so a verdict never mixes two moments of the loop.
"""

from dataclasses import dataclass

from ip_masq_agent.sync.guarded import OwnedLock, Shared


@dataclass(frozen=True)
class Seen:
    """What the loop had reported at one moment."""

    owed_since: float | None  # the oldest write still owed, None when none is
    beat: float  # the last completed iteration of the loop
    interval: float  # the longest the loop sleeps between iterations
    failures: int  # failed syncs in a row
    ready: bool  # a sync has succeeded since the start
    rules: str | None  # the last successful sync's count line, for the body
    config_state: str  # the config's state in fixed words (ConfigKeeper.state)
    config_rejected: bool  # the rules keep the last good config, not the file's


class HealthTracker:
    """The loop's reports, kept for the HTTP threads under one lock."""

    owed_since = Shared[float | None]()
    owed_during = Shared[float | None]()  # first request since the running sync began
    syncing = Shared[bool]()
    beat = Shared[float]()
    interval = Shared[float]()
    failures = Shared[int]()
    ready = Shared[bool]()
    rules = Shared[str | None]()
    config_state = Shared[str]()
    config_rejected = Shared[bool]()

    def __init__(self, *, started: float, interval: float) -> None:
        self._lock = OwnedLock()
        with self._lock:
            self.owed_since = started  # the first sync is owed from the start
            self.owed_during = None
            self.syncing = False
            self.beat = started
            self.interval = interval
            self.failures = 0
            self.ready = False
            self.rules = None
            self.config_state = "current"
            self.config_rejected = False

    @property
    def lock(self) -> OwnedLock:
        return self._lock

    # --- reports from the loop (and `queued_update` from any thread) -----------------------

    def queued_update(self, at: float) -> None:
        """Someone asked for a sync."""
        with self._lock:
            if self.owed_since is None:
                self.owed_since = at
            if self.syncing and self.owed_during is None:
                self.owed_during = at

    def sync_started(self) -> None:
        with self._lock:
            self.syncing = True
            self.owed_during = None

    def config_seen(self, state: str, *, rejected: bool) -> None:
        """The sync loaded the config: its state, and whether the file is rejected."""
        with self._lock:
            self.config_state = state
            self.config_rejected = rejected

    def write_needed(self, at: float) -> None:
        """The running sync found the kernel must change (drift, retry, new plan)."""
        with self._lock:
            owed_since = self.owed_since
            if owed_since is None or at < owed_since:
                self.owed_since = at

    def updated(self, rules: str | None) -> None:
        """Everything owed before this sync started is served; `rules` is the body's count line."""
        with self._lock:
            self.owed_since = self.owed_during
            self.owed_during = None
            self.syncing = False
            self.failures = 0
            self.ready = True
            self.rules = rules

    def failed(self) -> int:
        """Nothing owed is served; returns the failures in a row."""
        with self._lock:
            self.syncing = False
            self.owed_during = None
            self.failures += 1
            return self.failures

    def iterated(self, at: float, interval: float) -> None:
        """The loop completed an iteration; it completes one at least every `interval`."""
        with self._lock:
            self.beat = at
            self.interval = interval

    # --- for the HTTP threads --------------------------------------------------------------

    def snapshot(self) -> Seen:
        """Every field as of one moment."""
        with self._lock:
            return Seen(
                owed_since=self.owed_since,
                beat=self.beat,
                interval=self.interval,
                failures=self.failures,
                ready=self.ready,
                rules=self.rules,
                config_state=self.config_state,
                config_rejected=self.config_rejected,
            )
