"""What the running reconcile pass reports, passed on as it comes to the scheduler (the
period from the config), the health tracker (the config's state, a write owed) and the fight
detector (a rewrite another writer forced): a write may hang, and they must know before."""

import logging

from ip_masq_agent.config import AgentConfig
from ip_masq_agent.config_keeper import ConfigKeeper
from ip_masq_agent.deferred_metrics import Metrics
from ip_masq_agent.logs import log_event
from ip_masq_agent.rules import DesiredRules
from ip_masq_agent.sync.drift_fight import FIGHT_EVENT, DriftFight
from ip_masq_agent.sync.health_tracker import HealthTracker
from ip_masq_agent.sync.scheduler import Scheduler


class PassReports:
    """What the running pass reports (reconciler.PassEvents), passed on as it comes: a write
    may hang, and the schedule and health must know of it before. Loop thread only."""

    def __init__(
        self,
        *,
        config: ConfigKeeper,
        scheduler: Scheduler[bool],
        tracker: HealthTracker,
        fight: DriftFight,
        metrics: Metrics,
        logger: logging.Logger,
        backend: str,
    ) -> None:
        self._config = config
        self._scheduler = scheduler
        self._tracker = tracker
        self._fight = fight
        self._metrics = metrics
        self._log = logger
        self._backend = backend
        self.started = 0.0  # when the running pass began (monotonic)

    def loaded(self, config: AgentConfig | None) -> None:
        self._scheduler.set_period((config or self._config.defaults).resync_interval)
        self._tracker.config_seen(self._config.state, rejected=self._config.problem is not None)

    def write_needed(self, reason: str) -> None:
        # Owed from the pass's start: the write may hang, and /healthz must see its age grow.
        self._tracker.write_needed(self.started)

    def rewrite_forced(self, desired: DesiredRules) -> None:
        fight = self._fight.drift_rewritten(
            self._scheduler.clock.monotonic(), self._scheduler.longest_gap()
        )
        if fight is not None:
            self._metrics.writer_fights.inc()
            log_event(
                self._log,
                logging.WARNING,
                FIGHT_EVENT,
                rewrites=fight.rewrites,
                within=f"{fight.span:.0f}s",
                window=f"{fight.window:.0f}s",
                backend=self._backend,
                chain=desired.chain,
                hint="find the other agent or script writing this chain (or table) and stop it",
            )
