"""The nf_tables generation of a lab namespace, read from this process in one netlink round trip.

A bench that asks "is the agent's edit live yet?" every few milliseconds must not itself load
the machine: `nft get element` on a 50,000-element set loads the whole set (~0.3 s of CPU a
call). The generation moves with every committed transaction and costs one netlink message to
read, so a waiter polls it and looks at the set only when it has moved.
"""

import ctypes
import os
import socket
import threading
import time
from typing import Final, Self

from ip_masq_agent.nft_generation import NETLINK_NETFILTER, generation_request, parse_generation
from testbed.netlab.lab import Namespace

CLONE_NEWNET: Final = 0x40000000


def _netlink_socket_in(name: str) -> socket.socket:
    """A netfilter netlink socket of namespace `name` (a socket keeps the namespace it was
    made in; only a short-lived thread of ours enters it, since setns moves one thread)."""
    made: list[socket.socket] = []
    failed: list[OSError] = []

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name}")
            finally:
                os.close(fd)
            made.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER))
        except OSError as err:
            failed.append(err)

    thread = threading.Thread(target=enter, name=f"netns-{name}")
    thread.start()
    thread.join(timeout=5.0)
    if failed or not made:
        raise failed[0] if failed else OSError(f"no netlink socket in {name}")
    return made[0]


class GenerationProbe:
    """`read()` the namespace's nf_tables generation (None when the kernel does not answer)."""

    def __init__(self, ns: Namespace) -> None:
        self._sock = _netlink_socket_in(ns.name)
        self._sock.settimeout(1.0)
        self._sequence = 0

    def read(self) -> int | None:
        self._sequence += 1
        try:
            self._sock.send(generation_request(self._sequence))
            return parse_generation(self._sock.recv(4096))
        except OSError:
            return None

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class GenerationStamps:
    """When each generation was first seen: a thread reads the probe every `step` seconds.

    A waiter that looks at the rules whenever the generation moves cannot read it while it
    looks (at 50,000 elements a look takes ~0.4 s), and the agent commits twice per edit
    (new sets, then the chain pointed at them). The thread keeps reading meanwhile, so the
    commit that made a CIDR live is timed to within `step` however long the look took.
    """

    def __init__(self, probe: GenerationProbe, *, step: float, limit: float) -> None:
        self._probe = probe
        self._step = step
        self._limit = limit  # the thread stops by itself after this many seconds
        self._seen: dict[int | None, float] = {}
        self._latest: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._record()
        self._thread = threading.Thread(target=self._watch, name="generation-stamps")
        self._thread.start()

    def _record(self) -> None:
        generation, now = self._probe.read(), time.perf_counter()
        with self._lock:
            self._seen.setdefault(generation, now)
            self._latest = generation

    def _watch(self) -> None:
        deadline = time.perf_counter() + self._limit
        while not self._stop.wait(self._step) and time.perf_counter() < deadline:
            self._record()

    def latest(self) -> int | None:
        with self._lock:
            return self._latest

    def seen_at(self, generation: int | None) -> float:
        with self._lock:
            return self._seen[generation]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
