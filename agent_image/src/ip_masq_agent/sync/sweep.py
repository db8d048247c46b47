"""After a successful sync: our other backends' rules on the node are removed, and counted.

Loop thread only (`swept` is read and written by the sync loop alone).
"""

import logging
from typing import Protocol

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.deferred_metrics import Metrics
from ip_masq_agent.logs import log_event


class OtherBackends(Protocol):
    """Our other backends on the node (backends.migration): `sweep` removes their rules."""

    def sweep(self) -> list[str]: ...


class OtherBackendsSweep:
    """Sweeps `others` after each success: `switch` the first time, `reappeared` later."""

    def __init__(
        self, others: OtherBackends | None, metrics: Metrics, logger: logging.Logger
    ) -> None:
        self._others = others
        self._metrics = metrics
        self._log = logger
        self._swept = False

    def after_success(self) -> None:
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
