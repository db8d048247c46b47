"""heap.collection_paused: no cyclic collection inside, the collector's state restored after."""

import gc

import pytest

from ip_masq_agent.heap import collection_paused, release_free_memory


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_when_the_pass_raises() -> None:
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("a pass that failed")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    try:
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_releasing_free_memory_is_harmless_anywhere() -> None:
    release_free_memory()  # glibc: malloc_trim; elsewhere nothing
