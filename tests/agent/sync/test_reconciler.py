"""One reconcile pass alone: what it writes, why, and what it reports before writing."""

import gc
import logging

from prometheus_client import CollectorRegistry

from ip_masq_agent.config import AgentConfig, default_config
from ip_masq_agent.config_keeper import ConfigKeeper
from ip_masq_agent.metrics import AgentMetrics
from ip_masq_agent.rules import DesiredRules
from ip_masq_agent.sync.reconciler import Reconciler, Synced, SyncFailed
from tests.agent.test_runner import CONFIG, FakeBackend, MemorySource, _parse, _plan


class Events:
    """Records the pass's reports, and what the backend had applied when each came."""

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.seen: list[tuple[str, int]] = []

    def loaded(self, config: AgentConfig | None) -> None:
        self.seen.append(("loaded" if config else "no config", len(self.backend.applied)))

    def write_needed(self, reason: str) -> None:
        self.seen.append((f"write needed: {reason}", len(self.backend.applied)))

    def rewrite_forced(self, desired: DesiredRules) -> None:
        self.seen.append(("forced", len(self.backend.applied)))


class Pass:
    def __init__(self, text: str | None) -> None:
        self.backend = FakeBackend()
        self.source = MemorySource(text)
        self.events = Events(self.backend)
        self.released = 0
        keeper = ConfigKeeper(
            source=self.source,
            parse=_parse,
            defaults=default_config(),
            metrics=AgentMetrics(CollectorRegistry(), backend="fake"),
            logger=logging.getLogger("test-reconciler"),
        )
        self.reconciler = Reconciler(
            config=keeper,
            plan=_plan,
            backend=self.backend,
            events=self.events,
            release_memory=self.release,
        )

    def release(self) -> None:
        self.released += 1

    def run(self) -> Synced | SyncFailed:
        self.events.seen.clear()
        return self.reconciler.reconcile()


def test_the_first_pass_reports_the_write_before_it_writes() -> None:
    p = Pass(CONFIG)
    outcome = p.run()
    assert isinstance(outcome, Synced) and outcome.written == "initial"
    assert p.events.seen == [("loaded", 0), ("write needed: initial", 0)]
    assert p.backend.kernel == p.backend.render(outcome.desired)
    assert p.released == 2  # before the write, and after the new plan's pass


def test_an_idle_pass_observes_and_writes_nothing_nor_replans() -> None:
    p = Pass(CONFIG)
    first = p.run()
    observes, released = p.backend.observes, p.released
    again = p.run()
    assert isinstance(first, Synced) and isinstance(again, Synced)
    assert again == Synced(first.desired, None) and again.desired is first.desired
    assert p.events.seen == [("loaded", 1)]
    assert p.backend.observes == observes + 1 and p.released == released


def test_drift_is_a_forced_rewrite() -> None:
    p = Pass(CONFIG)
    p.run()
    p.backend.kernel = "flushed"
    outcome = p.run()
    assert isinstance(outcome, Synced) and outcome.written == "drift"
    assert p.events.seen == [("loaded", 1), ("write needed: drift", 1), ("forced", 1)]


def test_a_failed_write_fails_the_pass_and_forces_the_next_write() -> None:
    p = Pass(CONFIG)
    p.run()
    p.backend.fail = "xtables lock"
    p.source.text = CONFIG.replace("10.8.0.0/14", "10.9.0.0/16")
    assert p.run() == SyncFailed("error", "xtables lock")
    p.backend.fail = None
    p.source.text = CONFIG  # what the kernel had before: rewritten all the same
    outcome = p.run()
    assert isinstance(outcome, Synced) and outcome.written == "retry"


def test_a_writer_undoing_every_write_fails_the_pass_after_three() -> None:
    p = Pass(CONFIG)
    p.backend.racing_writes = 3
    outcome = p.run()
    assert isinstance(outcome, SyncFailed) and outcome.result == "error"
    assert "after 3 writes the kernel still shows other rules than written" in outcome.error
    assert [event for event, _ in p.events.seen].count("forced") == 2  # the 2nd and 3rd writes


def test_no_good_config_is_a_failed_pass_that_writes_nothing() -> None:
    p = Pass("cidrLimit: -1\n")
    outcome = p.run()
    assert isinstance(outcome, SyncFailed) and outcome.result == "no_config"
    assert outcome.error.endswith("; no good config yet")
    assert p.events.seen == [("no config", 0)]
    assert p.backend.applied == []


def test_a_pass_runs_without_cyclic_collection_and_restores_it() -> None:
    p = Pass(CONFIG)
    during: list[bool] = []
    p.events.loaded = lambda config: during.append(gc.isenabled())  # type: ignore[method-assign]
    assert isinstance(p.run(), Synced)
    assert during == [False] and gc.isenabled()
