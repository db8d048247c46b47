"""One sync pass: load the config, plan the rules, observe the kernel, write, verify.

No scheduling, no clock, no health: the pass reports what it finds through `PassEvents`
(the config loaded, a write owed, a rewrite another writer forced) and returns its outcome.
The kernel is rewritten only when the plan changed, the kernel no longer shows what it showed
after our last write, or the last pass failed (a failed write may have left anything).

Loop thread only: the memos, the last plan applied and the forced flag are read and written
by the sync loop alone; nothing here is shared with the HTTP threads.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ip_masq_agent.backends.base import ApplyError, Backend
from ip_masq_agent.config import AgentConfig
from ip_masq_agent.config_keeper import ConfigKeeper
from ip_masq_agent.heap import collection_paused
from ip_masq_agent.quoting import quoted
from ip_masq_agent.rules import DesiredRules

Planner = Callable[[AgentConfig], DesiredRules]

# Writes in one pass before a writer racing ours makes it a failed pass (retried with backoff).
WRITE_ATTEMPTS: Final = 3


class PassEvents(Protocol):
    """What a pass tells the loop while it runs (a write may hang: health must know before)."""

    def loaded(self, config: AgentConfig | None) -> None:
        """The config the rules follow now (None: no good config yet)."""

    def write_needed(self, reason: str) -> None:
        """The kernel must change: initial, retry, config or drift."""

    def rewrite_forced(self, desired: DesiredRules) -> None:
        """Another writer changed our rules (drift at a resync, or our write undone)."""


@dataclass(frozen=True)
class Synced:
    """The kernel holds `desired`; `written` is why it was rewritten, None if it was not."""

    desired: DesiredRules
    written: str | None


@dataclass(frozen=True)
class SyncFailed:
    """The pass failed: `result` is the metrics label (no_config, error), `error` the why."""

    result: str
    error: str


def first_difference(expected: str, observed: str) -> str:
    """Where two views part, briefly: the expected and the observed text from there on."""
    index = next(
        (i for i, (a, b) in enumerate(zip(expected, observed, strict=False)) if a != b),
        min(len(expected), len(observed)),
    )
    start = max(0, index - 20)
    return f"want {quoted(expected[start:])}, kernel has {quoted(observed[start:])}"


class Reconciler:
    """Brings the kernel to the plan of the current config, one pass per `reconcile`."""

    def __init__(
        self,
        *,
        config: ConfigKeeper,
        plan: Planner,
        backend: Backend,
        events: PassEvents,
        release_memory: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._plan = plan
        self._backend = backend
        self._events = events
        self._release_memory = release_memory
        self._applied: DesiredRules | None = None
        self._expected: tuple[DesiredRules, str] | None = None  # the plan and its kernel view
        self._plan_memo: tuple[AgentConfig, DesiredRules] | None = None
        self._force = True

    def reconcile(self) -> Synced | SyncFailed:
        """One pass now (no cyclic garbage collection during it: see `collection_paused`)."""
        with collection_paused():
            return self._reconcile()

    def _reconcile(self) -> Synced | SyncFailed:
        config = self._config.load()
        self._events.loaded(config)
        if config is None:
            self._force = True
            return SyncFailed("no_config", self._config.problem or "no config")
        # The keeper hands back the same object while the file is unchanged: an idle resync
        # then re-plans nothing (10,000 CIDRs cost milliseconds to plan and to summarise).
        if self._plan_memo is not None and self._plan_memo[0] is config:
            return self._bring_to(self._plan_memo[1])
        # What the old plan derived goes before the new one is built: at 10,000 CIDRs each
        # is megabytes, and old and new would otherwise meet at the peak.
        self._plan_memo = self._expected = None
        desired = self._plan(config)
        self._plan_memo = (config, desired)
        try:
            return self._bring_to(desired)
        finally:
            self._release_memory()

    def _bring_to(self, desired: DesiredRules) -> Synced | SyncFailed:
        reason = None
        try:
            expected = self._expected_view(desired)
            reason = self._rewrite_reason(desired, expected)
            if reason is not None:
                self._events.write_needed(reason)
                if reason == "drift":
                    self._events.rewrite_forced(desired)
                # The kernel tool's memory and the rules' own count against the pod's limit
                # too: what planning and rendering freed goes back first.
                self._release_memory()
                self._write(desired, expected)
        except ApplyError as err:
            self._force = True  # whatever the kernel holds now, write it whole next time
            return SyncFailed("error", str(err))
        self._force = False
        return Synced(desired, reason)

    def _expected_view(self, desired: DesiredRules) -> str:
        memo = self._expected
        if memo is None or memo[0] is not desired:
            memo = self._expected = (desired, self._backend.expected(desired))
        return memo[1]

    def _write(self, desired: DesiredRules, expected: str) -> None:
        """Apply until the kernel shows exactly `expected`; ApplyError when it never does."""
        for attempt in range(WRITE_ATTEMPTS):
            if attempt:
                self._events.rewrite_forced(desired)  # undone between our write and our look
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
