"""When to run the sync: a bounded-frequency runner of one function (after kube-proxy's
`BoundedFrequencyRunner`), knowing nothing of what the function does.

- `run()` asks for a run soon, from any thread; a burst of asks collapses into one run, at
  least `min_interval` after the previous run began.
- Without asks, a run comes every `period` (the function sets it as it learns it: the
  config's resyncInterval), never sooner than `min_interval`.
- `retry_after(delay)` brings the next run forward to `delay` from now (a failed run's retry);
  any run clears it.
- `step()` runs the function if one is due and says how long until the next; `loop()` steps
  and sleeps until `stop()`.

Lock discipline: the fields below are `Shared`, guarded by `self.lock` (checked on every
access). `run()` writes `queued_at` from any thread; `run_now()`, `set_period()` and
`retry_after()` write from the loop thread (or whoever calls them; each takes the lock);
`due_at()` reads them all in one hold. The function itself runs outside the lock, so a
request arriving during a long run never waits for it.
"""

import threading
import time
from collections.abc import Callable
from typing import Final, Generic, Protocol, TypeVar

from ip_masq_agent.sync.guarded import OwnedLock, Shared

# Event.wait refuses timeouts past threading.TIMEOUT_MAX (OverflowError); an hour is as good
# as any longer sleep, the loop just looks again. The health verdict's stall bound knows it.
LONGEST_SLEEP: Final = 3600.0

R = TypeVar("R")


class Clock(Protocol):
    """Time as the loop sees it: monotonic for scheduling, wall time for metrics."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class Backoff:
    """Doubling delays between retries, capped; reset by a success. Loop thread only."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = initial

    def next(self) -> float:
        """The delay before this retry; the one after it doubles."""
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        return delay

    def reset(self) -> None:
        self._next = self._initial


class Scheduler(Generic[R]):
    """Runs `fn` when due: asked (after the minimum gap), retried, or a period since the last."""

    queued_at = Shared[float | None]()  # first unserved ask since the last run began
    last_run_at = Shared[float]()  # when the last run began
    next_run_at = Shared[float]()  # the periodic run after it
    retry_at = Shared[float | None]()
    period = Shared[float]()

    def __init__(
        self, fn: Callable[[], R], *, clock: Clock, min_interval: float, period: float
    ) -> None:
        self._fn = fn
        self._clock = clock
        self._min_interval = min_interval
        self._lock = OwnedLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        now = clock.monotonic()
        with self._lock:
            self.queued_at = None
            self.last_run_at = now - min_interval
            self.next_run_at = now  # the first run is due at once
            self.retry_at = None
            self.period = period

    @property
    def lock(self) -> OwnedLock:
        return self._lock

    @property
    def clock(self) -> Clock:
        return self._clock

    def run(self) -> bool:
        """Ask for a run soon (thread-safe); True when no ask was pending yet."""
        with self._lock:
            first = self.queued_at is None
            if first:
                self.queued_at = self._clock.monotonic()
        self._wake.set()
        return first

    def retry_after(self, delay: float) -> None:
        """Run again `delay` seconds from now at the latest."""
        with self._lock:
            self.retry_at = self._clock.monotonic() + delay

    def set_period(self, period: float) -> None:
        """The longest gap between runs from the current one on (held to the minimum gap)."""
        with self._lock:
            self.period = period
            self.next_run_at = self.last_run_at + self._longest_gap()

    def longest_gap(self) -> float:
        """The most the loop sleeps between iterations: the period, held to the minimum gap."""
        with self._lock:
            return self._longest_gap()

    def _longest_gap(self) -> float:
        # A valid but tiny resyncInterval (`1ns`) would make the loop spin on the kernel tools;
        # the minimum gap between runs bounds it as it bounds bursts of asks.
        return max(self.period, self._min_interval)

    def due_at(self) -> float:
        """Monotonic time of the next run."""
        with self._lock:
            due = self.next_run_at
            if self.queued_at is not None:
                due = min(due, self.last_run_at + self._min_interval)
            if self.retry_at is not None:
                due = min(due, self.retry_at)
            return due

    def run_now(self) -> R:
        """Run `fn` now: every ask made so far is served by this run, any retry replaced."""
        started = self._clock.monotonic()
        with self._lock:
            self.queued_at = None
            self.retry_at = None
            self.last_run_at = started
            self.next_run_at = started + self._longest_gap()
        return self._fn()

    def step(self) -> float:
        """Run `fn` if a run is due; return seconds until the next one is due."""
        if self._clock.monotonic() >= self.due_at():
            self.run_now()
        return max(0.0, self.due_at() - self._clock.monotonic())

    def loop(self, step: Callable[[], float] | None = None) -> None:
        """Step until `stop` (with `step`, a wrapper of `self.step`); returns within one run."""
        while not self._stopping.is_set():
            self._wake.clear()
            delay = (step or self.step)()
            if self._stopping.is_set():
                break
            self._wake.wait(timeout=min(delay, LONGEST_SLEEP))

    def stop(self) -> None:
        """Make `loop` return (thread-safe, e.g. from a signal handler)."""
        self._stopping.set()
        self._wake.set()
