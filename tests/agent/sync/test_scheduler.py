"""The bounded-frequency scheduler alone: a counting function, a fake clock, no sync at all."""

import threading

import pytest

from ip_masq_agent.sync.scheduler import Backoff, Scheduler, SystemClock
from tests.agent.test_runner import FakeClock


class Counted:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.runs: list[float] = []

    def __call__(self) -> int:
        self.runs.append(self.clock.now)
        return len(self.runs)


def _scheduler(period: float = 10.0) -> tuple[FakeClock, Counted, Scheduler[int]]:
    clock = FakeClock()
    fn = Counted(clock)
    return clock, fn, Scheduler(fn, clock=clock, min_interval=0.1, period=period)


def test_the_first_run_is_due_at_once_then_every_period() -> None:
    clock, fn, scheduler = _scheduler()
    assert scheduler.step() == pytest.approx(10.0)
    clock.now += 9.9
    scheduler.step()
    clock.now += 0.1
    scheduler.step()
    assert fn.runs == [1000.0, 1010.0]


def test_asks_coalesce_into_one_run_after_the_minimum_gap() -> None:
    clock, fn, scheduler = _scheduler()
    scheduler.step()
    clock.now += 0.01
    assert scheduler.run() is True
    assert [scheduler.run() for _ in range(5)] == [False] * 5  # already pending
    assert scheduler.step() == pytest.approx(0.09)
    clock.now += 0.09
    scheduler.step()
    assert len(fn.runs) == 2
    assert scheduler.run() is True  # served: the next ask is a new one


def test_the_period_is_held_to_the_minimum_gap() -> None:
    clock, _fn, scheduler = _scheduler()
    scheduler.step()
    scheduler.set_period(1e-9)
    assert scheduler.longest_gap() == pytest.approx(0.1)
    assert scheduler.due_at() == pytest.approx(clock.now + 0.1)


def test_retry_after_brings_the_next_run_forward_and_a_run_clears_it() -> None:
    clock, fn, scheduler = _scheduler()
    scheduler.step()
    scheduler.retry_after(0.5)
    assert scheduler.due_at() == pytest.approx(1000.5)
    clock.now += 0.5
    scheduler.step()
    assert fn.runs == [1000.0, 1000.5]
    assert scheduler.due_at() == pytest.approx(1010.5)  # the period, from the last run


def test_run_now_returns_the_functions_result() -> None:
    _, _, scheduler = _scheduler()
    assert scheduler.run_now() == 1
    assert scheduler.run_now() == 2


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 4.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_the_loop_wakes_on_an_ask_and_stops_on_stop() -> None:
    first, second = threading.Event(), threading.Event()
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        (first if len(calls) == 1 else second).set()

    # The real clock: a one-hour period, so only the start and the ask make runs.
    scheduler = Scheduler(fn, clock=SystemClock(), min_interval=0.01, period=3600.0)
    thread = threading.Thread(target=scheduler.loop)
    thread.start()
    try:
        assert first.wait(5)
        scheduler.run()
        assert second.wait(5)
    finally:
        scheduler.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert len(calls) == 2
