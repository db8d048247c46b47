"""Shared fields: any read or write without the owner's lock raises, from any thread."""

import threading

import pytest

from ip_masq_agent.sync.guarded import OwnedLock, Shared, UnguardedAccessError


class Owner:
    value = Shared[int]()

    def __init__(self) -> None:
        self.lock = OwnedLock()
        with self.lock:
            self.value = 0


def test_a_field_is_read_and_written_under_its_lock() -> None:
    owner = Owner()
    with owner.lock:
        owner.value += 1
        assert owner.value == 1


def test_a_write_outside_the_lock_raises() -> None:
    owner = Owner()
    with pytest.raises(UnguardedAccessError, match=r"Owner.value written without its lock"):
        owner.value = 2


def test_a_read_outside_the_lock_raises() -> None:
    owner = Owner()
    with pytest.raises(UnguardedAccessError, match=r"Owner.value read without its lock"):
        _ = owner.value


def test_another_threads_hold_is_not_ours() -> None:
    owner = Owner()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with owner.lock:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        assert not owner.lock.held()
        with pytest.raises(UnguardedAccessError):
            owner.value = 3
    finally:
        release.set()
        thread.join()
    with owner.lock:
        assert owner.value == 0
    assert not owner.lock.held()  # released on the way out of `with`
