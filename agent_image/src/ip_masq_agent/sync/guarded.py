"""Fields shared between threads, readable and writable only by the thread holding their lock.

Why checked at run time: the loop thread writes what the HTTP threads read, and a field
touched outside its lock is a race no test sees by luck. A `Shared` field raises
`UnguardedAccessError` on any read or write by a thread that does not hold the owner's
`OwnedLock`, so every test that takes such a path fails at once, in any interleaving.
The check costs a thread-id comparison per access (a few per sync, a few per probe).
"""

import threading
from types import TracebackType
from typing import Generic, Protocol, TypeVar, overload

T = TypeVar("T")


class UnguardedAccessError(RuntimeError):
    """A shared field was read or written without its lock: a bug, never a condition."""


class OwnedLock:
    """A non-reentrant lock that knows which thread holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None  # set and cleared only while `_lock` is held

    def __enter__(self) -> "OwnedLock":
        self._lock.acquire()
        self._owner = threading.get_ident()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._owner = None
        self._lock.release()

    def held(self) -> bool:
        """Whether the calling thread holds it (another thread's hold reads as False)."""
        return self._owner == threading.get_ident()


class Guarded(Protocol):
    """An owner of `Shared` fields: they are guarded by its `lock`."""

    @property
    def lock(self) -> OwnedLock: ...


class Shared(Generic[T]):
    """A field of a `Guarded` owner, stored on the instance, checked on every access."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._slot = f"_shared_{name}"

    @overload
    def __get__(self, obj: None, owner: type) -> "Shared[T]": ...

    @overload
    def __get__(self, obj: Guarded, owner: type) -> T: ...

    def __get__(self, obj: Guarded | None, owner: type) -> "Shared[T] | T":
        if obj is None:
            return self
        self._check(obj, "read")
        value: T = obj.__dict__[self._slot]
        return value

    def __set__(self, obj: Guarded, value: T) -> None:
        self._check(obj, "written")
        obj.__dict__[self._slot] = value

    def _check(self, obj: Guarded, access: str) -> None:
        if not obj.lock.held():
            raise UnguardedAccessError(
                f"{type(obj).__name__}.{self._name} {access} without its lock"
            )
