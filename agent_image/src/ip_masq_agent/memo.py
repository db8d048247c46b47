"""Memoisation that keeps only what the latest use needed: bounded by the current config."""

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class UseMemo(Generic[K, V]):
    """`compute` memoised across uses, each use keeping only the keys it asked for.

    A use (`with memo.use():`) parses one config, or canonicalises one listing. Inside it a
    key is answered from this use, else from the previous use, else computed; when it ends,
    the previous use's entries go. So an edit of a 10,000-CIDR list re-parses only what
    changed, and what the memo holds is what the latest use needed: never the CIDRs of a
    config the agent no longer follows (a module-level `lru_cache` kept 65,536 of them).
    Calls outside a use are computed, not kept. Not thread-safe: one sync loop owns it.
    """

    def __init__(self, compute: Callable[[K], V]) -> None:
        self._compute = compute
        self._previous: dict[K, V] = {}
        self._current: dict[K, V] | None = None

    @contextmanager
    def use(self) -> Iterator[None]:
        """One use (uses do not nest): after it the memo holds exactly the keys it asked for.

        A use ended by an exception (a config rejected half-way) changes nothing: the memo
        keeps the previous use, whose config is the one still followed.
        """
        self._current = {}
        try:
            yield
        except BaseException:
            self._current = None
            raise
        self._previous, self._current = self._current, None

    def __call__(self, key: K) -> V:
        current = self._current
        if current is None:
            value = self._previous.get(key)
            return self._compute(key) if value is None else value
        value = current.get(key)
        if value is None:
            value = self._previous.get(key)
            if value is None:
                value = self._compute(key)
            current[key] = value
        return value

    def __len__(self) -> int:
        return len(self._previous) + len(self._current or {})
