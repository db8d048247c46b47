"""The lock discipline runner.py states, tested: threads read health while syncs run, and
every field the HTTP threads can reach refuses a read or write without its lock."""

import logging
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import generate_latest

from ip_masq_agent.cleanup_phase import CleanupPhase
from ip_masq_agent.health import health_routes
from ip_masq_agent.sync.drift_fight import DriftFight
from ip_masq_agent.sync.guarded import Shared, UnguardedAccessError
from ip_masq_agent.sync.health_tracker import HealthTracker
from ip_masq_agent.sync.scheduler import Scheduler
from tests.agent.test_runner import CONFIG, Harness

OTHER = CONFIG.replace("10.8.0.0/14", "10.9.0.0/16")


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Threads switch as often as the interpreter allows: races show within a few syncs."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


class NoRules:
    def sweep(self) -> list[str]:
        return []


def _guarded_objects() -> list[object]:
    return [
        HealthTracker(started=0.0, interval=10.0),
        Scheduler(lambda: None, clock=Harness(CONFIG).clock, min_interval=0.1, period=10.0),
        DriftFight(),
        CleanupPhase(NoRules(), logging.getLogger("test-lock-discipline")),
    ]


def _shared_fields(owner: object) -> list[str]:
    return [name for name, value in vars(type(owner)).items() if isinstance(value, Shared)]


@pytest.mark.parametrize("owner", _guarded_objects(), ids=lambda o: type(o).__name__)
def test_every_shared_field_refuses_access_without_its_lock(owner: object) -> None:
    fields = _shared_fields(owner)
    assert fields, "no Shared field: the class would not be guarded at all"
    for name in fields:
        with pytest.raises(UnguardedAccessError, match="read without its lock"):
            getattr(owner, name)
        with pytest.raises(UnguardedAccessError, match="written without its lock"):
            setattr(owner, name, None)


def _in_threads(
    work: Callable[[], None], count: int, stop: threading.Event, errors: list[BaseException]
) -> list[threading.Thread]:
    def loop() -> None:
        while not stop.is_set():
            try:
                work()
            except BaseException as err:  # reported by the test thread, not lost in this one
                errors.append(err)
                return

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.usefixtures("busy_switching")
def test_health_read_from_threads_while_syncs_run_is_one_moment_each() -> None:
    h = Harness(CONFIG)
    routes = health_routes(h.runner.health)
    stop = threading.Event()
    errors: list[BaseException] = []
    answers: list[tuple[bool, str]] = []

    def probe() -> None:
        report = h.runner.health()
        # `ready` and the rules line come from one update: a snapshot never splits them.
        assert report.ready == ("\nrules: " in report.body), report
        assert report.body.startswith(("ok\n", "unhealthy: ")), report.body
        answers.append((report.ready, routes["/readyz"]().body.decode()))

    def ask() -> None:
        h.runner.request_sync("config file changed")

    def scrape() -> None:
        generate_latest(h.registry)  # the writer_fight gauge asks DriftFight from this thread

    threads = [
        *_in_threads(probe, 3, stop, errors),
        *_in_threads(ask, 1, stop, errors),
        *_in_threads(scrape, 1, stop, errors),
    ]
    try:
        for n in range(200):
            h.source.text = OTHER if n % 2 else CONFIG
            h.backend.fail = "xtables lock" if n % 7 == 3 else None
            h.clock.now += 0.2
            h.runner.step()
            h.runner.sync()
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
    assert errors == []
    assert any(ready for ready, _ in answers)
    h.backend.fail = None
    assert h.runner.sync()
    assert h.runner.health().ready and h.runner.health().healthy
    assert len(h.backend.applied) > 100  # the syncs did run: each config change is a write
