"""`cleanup --stay`: remove every backend's rules, then stay, Ready only once they are gone.

The uninstall phase of a DaemonSet: each node's pod removes our rules and keeps running, so
the rollout completes (every pod Ready) only when no node holds our rules any more; only then
are the DaemonSet and ConfigMap removed. A rule an old pod still writes during the rollout is
removed at the next recheck.
"""

import logging
import threading
from typing import Final, Protocol

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.logs import log_event
from ip_masq_agent.sync.guarded import OwnedLock, Shared
from ip_masq_agent.sync.verdict import HealthReport

# How often the pod looks again: an old agent may still be stopping on the node.
RECHECK_SECONDS: Final = 10.0


class Sweeper(Protocol):
    """Removes the rules of every backend (backends.migration.OtherBackends with none active)."""

    def sweep(self) -> list[str]: ...


class CleanupPhase:
    """The sweep loop and its verdict.

    Lock discipline: `gone` and `error` are `Shared`, guarded by `self.lock`: written by the
    sweep loop, read by the HTTP threads (`report`) in one hold.
    """

    gone = Shared[bool]()  # the last sweep succeeded: nothing of ours is on the node
    error = Shared[str | None]()

    def __init__(
        self, sweeper: Sweeper, logger: logging.Logger, recheck: float = RECHECK_SECONDS
    ) -> None:
        self._sweeper = sweeper
        self._log = logger
        self._recheck = recheck
        self._lock = OwnedLock()
        self._stop = threading.Event()
        with self._lock:
            self.gone, self.error = False, None

    @property
    def lock(self) -> OwnedLock:
        return self._lock

    def sweep(self) -> bool:
        """One sweep now; True when the node then holds no rule of ours."""
        try:
            removed = self._sweeper.sweep()
        except ApplyError as err:
            with self._lock:
                self.gone, self.error = False, str(err)
            log_event(self._log, logging.ERROR, "cleanup failed", error=str(err))
            return False
        with self._lock:
            self.gone, self.error = True, None
        if removed:
            log_event(self._log, logging.INFO, "rules removed", backends=",".join(removed))
        return True

    def run(self) -> None:
        """Sweep until `stop`: at once, then every recheck (sooner after a failure)."""
        while not self._stop.is_set():
            gone = self.sweep()
            self._stop.wait(self._recheck if gone else min(self._recheck, 1.0))

    def stop(self) -> None:
        self._stop.set()

    def report(self) -> HealthReport:
        """For health_routes: /healthz while the loop runs, /readyz once no rule of ours is left."""
        with self._lock:
            gone, error = self.gone, self.error
        if gone:
            return HealthReport(True, True, "ok\nmode: cleanup: no rule of ours on this node\n")
        reason = "cleanup failed (the log says why)" if error else "cleanup not done yet"
        return HealthReport(True, False, "ok\nmode: cleanup\n", unready=reason)
