"""A tiny HTTP/1.0 server whose cost is bounded whatever clients do.

Any pod on a node can connect to a hostNetwork port, so the server must not give a client a
thread, a process ID or unbounded memory. One thread multiplexes every connection with
`selectors` and only reads: a connection holds a few hundred bytes until its request head
arrives, and is dropped when it takes longer than `read_timeout` or when `max_pending`
connections wait (the oldest goes first, so a flood of idle sockets cannot keep a probe out).
A complete request goes to a small, fixed pool of workers that answer and close; every
request is `GET` of a path, so nothing but the request line is ever looked at.
"""

import contextlib
import queue
import selectors
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

MAX_HEAD_BYTES: Final = 8192  # request line and headers; a probe sends ~150 bytes


@dataclass(frozen=True)
class Response:
    """One answer: status, body and its media type."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Response]

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def text(status: int, body: str) -> Response:
    return Response(status, body.encode())


def parse_request_line(head: bytes) -> tuple[str, str] | None:
    """(method, path without query) from a request head; None when it is not HTTP."""
    line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return None
    try:
        method, target = parts[0].decode("ascii"), parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None
    return method, target.split("?", 1)[0]


def answer(head: bytes, routes: Mapping[str, Route]) -> tuple[Response, bool]:
    """The response to a complete request head, and whether to send the body (not for HEAD)."""
    request = parse_request_line(head)
    if request is None:
        return text(400, "bad request\n"), True
    method, path = request
    if method not in ("GET", "HEAD"):
        return text(405, "method not allowed\n"), True
    route = routes.get(path)
    if route is None:
        return text(404, "not found\n"), method == "GET"
    try:
        return route(), method == "GET"
    except Exception:  # an endpoint's bug must not take the server thread with it
        return text(500, "internal error\n"), method == "GET"


def encode_response(response: Response, *, with_body: bool = True) -> bytes:
    head = (
        f"HTTP/1.0 {response.status} {_REASONS.get(response.status, 'Unknown')}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return head + (response.body if with_body else b"")


@dataclass
class _Pending:
    sock: socket.socket
    deadline: float
    head: bytes = b""


class BoundedHttpServer:
    """Serves `routes` (path -> response) on one address with bounded threads and memory."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, Route],
        *,
        workers: int = 4,
        max_pending: int = 256,
        read_timeout: float = 5.0,
        write_timeout: float = 5.0,
        backlog: int = 128,
        name: str = "http",
    ) -> None:
        self._routes = dict(routes)
        self._max_pending = max_pending
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._name = name
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(backlog)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._pending: OrderedDict[int, _Pending] = OrderedDict()  # oldest first
        # Complete requests waiting for a worker; bounded, so a burst cannot pile up memory.
        self._requests: queue.Queue[tuple[socket.socket, bytes] | None] = queue.Queue(
            maxsize=max_pending
        )
        self._stopping = threading.Event()
        # `stop` writes here: the selector sleeps without a timeout while nothing is pending,
        # so an idle agent's server takes no CPU at all.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._threads = [threading.Thread(target=self._serve, name=name, daemon=True)] + [
            threading.Thread(target=self._work, name=f"{name}-worker", daemon=True)
            for _ in range(workers)
        ]

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):  # already closed: the selector thread is gone
            self._wake_writer.send(b"x")
        for _ in self._threads[1:]:
            try:
                self._requests.put(None, timeout=1.0)
            except queue.Full:
                break
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2.0)
        self._listener.close()
        self._wake_reader.close()
        self._wake_writer.close()

    # --- the selector thread: accept, read heads, enforce deadlines ----------------------

    def _serve(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in self._selector.select(timeout=self._next_deadline()):
                    if key.fileobj is self._wake_reader:
                        continue
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._read(key.fd)
                self._expire(time.monotonic())
        finally:
            for pending in list(self._pending.values()):
                self._drop(pending)
            self._selector.close()

    def _next_deadline(self) -> float | None:
        """Seconds until the oldest pending head expires; None (no timeout) when none is."""
        if not self._pending:
            return None
        return max(0.0, next(iter(self._pending.values())).deadline - time.monotonic())

    def _accept(self) -> None:
        for _ in range(64):  # a bounded batch per wake-up, then the other sockets get a turn
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. EMFILE: the backlog keeps the client until a slot frees up
            sock.setblocking(False)
            if len(self._pending) >= self._max_pending:
                self._drop(next(iter(self._pending.values())))
            self._pending[sock.fileno()] = _Pending(sock, time.monotonic() + self._read_timeout)
            self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, fd: int) -> None:
        pending = self._pending.get(fd)
        if pending is None:
            return
        try:
            chunk = pending.sock.recv(MAX_HEAD_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(pending)
            return
        if not chunk:
            self._drop(pending)
            return
        pending.head += chunk
        complete = b"\r\n\r\n" in pending.head or b"\n\n" in pending.head
        if not complete and len(pending.head) < MAX_HEAD_BYTES:
            return
        self._release(pending)
        head = pending.head if complete else b""  # an over-long head is a bad request
        try:
            self._requests.put_nowait((pending.sock, head))
        except queue.Full:
            pending.sock.close()

    def _expire(self, now: float) -> None:
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if oldest.deadline > now:
                return
            self._drop(oldest)

    def _release(self, pending: _Pending) -> None:
        self._selector.unregister(pending.sock)
        del self._pending[pending.sock.fileno()]

    def _drop(self, pending: _Pending) -> None:
        self._release(pending)
        pending.sock.close()

    # --- the workers: answer one complete request each -----------------------------------

    def _work(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            sock, head = item
            with sock:
                response, with_body = answer(head, self._routes)
                try:
                    sock.setblocking(True)
                    sock.settimeout(self._write_timeout)
                    sock.sendall(encode_response(response, with_body=with_body))
                except OSError:
                    pass  # the client went away or stopped reading: its loss
