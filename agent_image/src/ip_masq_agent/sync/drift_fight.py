"""Another writer fighting ours: drift rewrites counted in a sliding window, a verdict on demand."""

from collections import deque
from dataclasses import dataclass
from typing import Final

from ip_masq_agent.sync.guarded import OwnedLock, Shared

# A drift rewrite is one another writer forced: drift found at a resync, or our write undone
# before we looked at it. One tamper (an operator, a one-off script) is repaired and
# forgotten; a third within the window means something keeps undoing our rules (upstream's
# agent on our chain, a CNI rewriting nat). The window is 5 minutes, or 3 resync intervals
# when those are longer: drift is only seen at a resync, so a writer undoing every rewrite is
# caught at any interval.
FIGHT_REWRITES: Final = 3
FIGHT_WINDOW: Final = 300.0
FIGHT_EVENT: Final = "another writer is changing our rules"  # the log's event, /readyz's reason


@dataclass(frozen=True)
class Fight:
    """The fight as it stands: drift rewrites in the window and how long they spanned."""

    rewrites: int
    span: float
    window: float

    def describe(self) -> str:
        return (
            f"{self.rewrites} drift rewrites within {self.span:.0f}s"
            f"; a fight is {self.rewrites} within {self.window:.0f}s"
        )


class DriftFight:
    """The last few drift rewrites; fighting while `rewrites` of them fall within the window.

    The loop reports each rewrite another writer forced; readiness, the gauge and the log ask.
    Bounded: only the last `rewrites` timestamps are kept.

    Lock discipline: `times` and `window` are `Shared`, guarded by `self.lock`: written by the
    loop thread (`drift_rewritten`), read by it and by the HTTP and metrics threads (`fight`).
    """

    times = Shared["deque[float]"]()
    window = Shared[float]()

    def __init__(self, rewrites: int = FIGHT_REWRITES, window: float = FIGHT_WINDOW) -> None:
        if rewrites < 1:
            raise ValueError("a fight needs at least one rewrite")
        self._rewrites = rewrites
        self._min_window = window
        self._lock = OwnedLock()
        with self._lock:
            self.times = deque(maxlen=rewrites)
            self.window = window

    @property
    def lock(self) -> OwnedLock:
        return self._lock

    def window_for(self, interval: float) -> float:
        """The window for a loop resyncing every `interval` seconds."""
        return max(self._min_window, self._rewrites * interval)

    def drift_rewritten(self, at: float, interval: float) -> Fight | None:
        """Record one drift rewrite; the fight when this one started it, else None."""
        with self._lock:
            before = self._fight(at)
            self.window = self.window_for(interval)
            self.times.append(at)
            after = self._fight(at)
        return after if before is None else None

    def fight(self, now: float) -> Fight | None:
        """The fight going on now, or None."""
        with self._lock:
            return self._fight(now)

    def _fight(self, now: float) -> Fight | None:
        times = self.times
        if len(times) < self._rewrites or now - times[0] > self.window:
            return None
        return Fight(len(times), times[-1] - times[0], self.window)
