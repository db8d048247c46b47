"""Another writer fighting ours: drift rewrites counted in a sliding window, a verdict on demand."""

import threading
from collections import deque
from dataclasses import dataclass
from typing import Final

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
    """

    def __init__(self, rewrites: int = FIGHT_REWRITES, window: float = FIGHT_WINDOW) -> None:
        if rewrites < 1:
            raise ValueError("a fight needs at least one rewrite")
        self._rewrites = rewrites
        self._min_window = window
        self._lock = threading.Lock()
        self._times: deque[float] = deque(maxlen=rewrites)
        self._window = window

    def window_for(self, interval: float) -> float:
        """The window for a loop resyncing every `interval` seconds."""
        return max(self._min_window, self._rewrites * interval)

    def drift_rewritten(self, at: float, interval: float) -> Fight | None:
        """Record one drift rewrite; the fight when this one started it, else None."""
        with self._lock:
            before = self._fight(at)
            self._window = self.window_for(interval)
            self._times.append(at)
            after = self._fight(at)
        return after if before is None else None

    def fight(self, now: float) -> Fight | None:
        """The fight going on now, or None."""
        with self._lock:
            return self._fight(now)

    def _fight(self, now: float) -> Fight | None:
        if len(self._times) < self._rewrites or now - self._times[0] > self._window:
            return None
        return Fight(len(self._times), self._times[-1] - self._times[0], self._window)
