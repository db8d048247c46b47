"""Notices a changed config file, kubelet's `..data` symlink swap included, through inotify.

A ConfigMap update never writes the file the agent opens: kubelet renames a fresh `..data`
symlink over the old one in the mounted directory. So the watch is on that directory, for
every entry created, moved, written or removed in it (the keeper compares the document, so a
spurious event costs one read). Between events the thread sleeps in poll(2): an idle agent
spends no CPU on its config. ctypes on libc, because the image has only the standard library.
Only when inotify cannot watch the directory (it does not exist yet, the watch limit is
reached) does the watcher fall back to a stat poll once a second.
"""

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

Fingerprint = tuple[str, int, int, int, int] | None
WatchMode = Literal["inotify", "poll"]

# From linux/inotify.h.
IN_MODIFY: Final = 0x2
IN_ATTRIB: Final = 0x4
IN_CLOSE_WRITE: Final = 0x8
IN_MOVED_FROM: Final = 0x40
IN_MOVED_TO: Final = 0x80
IN_CREATE: Final = 0x100
IN_DELETE: Final = 0x200
IN_DELETE_SELF: Final = 0x400
IN_MOVE_SELF: Final = 0x800
IN_UNMOUNT: Final = 0x2000
IN_Q_OVERFLOW: Final = 0x4000
IN_IGNORED: Final = 0x8000
IN_ONLYDIR: Final = 0x1000000
IN_NONBLOCK: Final = os.O_NONBLOCK
IN_CLOEXEC: Final = os.O_CLOEXEC
DIRECTORY_EVENTS: Final = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
# The watched directory itself went away (removed, renamed, unmounted): watch it anew.
WATCH_GONE: Final = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED
_EVENT: Final = struct.Struct("=iIII")  # wd, mask, cookie, len (then len bytes of name)
FALLBACK_POLL_SECONDS: Final = 1.0


@dataclass(frozen=True)
class InotifyEvent:
    """One event as the kernel reports it."""

    wd: int
    mask: int
    name: str


def parse_events(data: bytes) -> Iterator[InotifyEvent]:
    """The events in one read(2) of an inotify descriptor (pure, for tests too)."""
    offset = 0
    while offset + _EVENT.size <= len(data):
        wd, mask, _, length = _EVENT.unpack_from(data, offset)
        raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
        yield InotifyEvent(wd, mask, raw.split(b"\0", 1)[0].decode(errors="replace"))
        offset += _EVENT.size + length


def fingerprint(path: str) -> Fingerprint:
    """Identity and version of what `path` resolves to now; None when it does not exist."""
    try:
        status = os.stat(path)
        resolved = os.path.realpath(path)
    except OSError:
        return None
    return resolved, status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size


class _Inotify:
    """An inotify descriptor watching one directory."""

    def __init__(self, directory: str) -> None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        self._libc = ctypes.CDLL(name, use_errno=True)
        self._directory = directory
        self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        try:
            self.watch()
        except OSError:
            os.close(self.fd)
            raise

    def watch(self) -> None:
        wd = self._libc.inotify_add_watch(
            self.fd, os.fsencode(self._directory), DIRECTORY_EVENTS | IN_ONLYDIR
        )
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch {self._directory}: {os.strerror(code)}")

    def read(self) -> list[InotifyEvent]:
        try:
            return list(parse_events(os.read(self.fd, 64 * 1024)))
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EINTR):
                return []
            raise

    def close(self) -> None:
        os.close(self.fd)


class ConfigWatcher:
    """Calls `on_change` from its own thread whenever the config file may have changed."""

    def __init__(self, path: str, on_change: Callable[[], None]) -> None:
        self._path = path
        self._directory = os.path.dirname(os.path.abspath(path))
        self._on_change = on_change
        # The entries whose events matter: the file, and kubelet's `..data` it resolves through.
        self._names = frozenset({os.path.basename(path), "..data"})
        self._stop_reader, self._stop_writer = os.pipe()
        self._thread: threading.Thread | None = None
        self._last = fingerprint(path)
        self._inotify: _Inotify | None
        try:
            self._inotify = _Inotify(self._directory)
        except OSError:
            self._inotify = None

    @property
    def mode(self) -> WatchMode:
        """`inotify`, or `poll` when the directory could not be watched."""
        return "poll" if self._inotify is None else "inotify"

    def poll(self) -> bool:
        """Stat once; True (and `on_change` called) when the file changed since last time."""
        current = fingerprint(self._path)
        if current == self._last:
            return False
        self._last = current
        self._on_change()
        return True

    def _on_events(self, inotify: _Inotify) -> bool:
        """Handle pending events; False when the directory can no longer be watched."""
        events = [
            e
            for e in inotify.read()
            if e.name in self._names or e.mask & (WATCH_GONE | IN_Q_OVERFLOW)
        ]
        if not events:
            return True
        if any(event.mask & WATCH_GONE for event in events):
            try:
                inotify.watch()  # a directory of the same name again (a remount, a restore)
            except OSError:
                self._on_change()
                return False
        self._on_change()
        return True

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._stop_reader, select.POLLIN)
        if self._inotify is not None:
            poller.register(self._inotify.fd, select.POLLIN)
        while True:
            # No timeout with inotify: the thread sleeps until an event or `stop`.
            timeout = None if self._inotify is not None else FALLBACK_POLL_SECONDS * 1000
            ready = {fd for fd, _ in poller.poll(timeout)}
            if self._stop_reader in ready:
                return
            if self._inotify is None:
                self.poll()
            elif self._inotify.fd in ready and not self._on_events(self._inotify):
                poller.unregister(self._inotify.fd)
                self._inotify.close()
                self._inotify = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="config-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        os.write(self._stop_writer, b"x")
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        os.close(self._stop_reader)
        os.close(self._stop_writer)
