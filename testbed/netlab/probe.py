"""Probe client: asks lab echo servers which source address they saw, one JSON line per target.

Run inside a namespace: `python -m testbed.netlab.probe udp:203.0.113.10:7777 tcp:[fd00::1]:7777`.
"""

import argparse
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from testbed.netlab.lab import Namespace


@dataclass(frozen=True)
class Target:
    proto: str  # "tcp" or "udp"
    address: str
    port: int

    def spec(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.proto}:{host}:{self.port}"

    @classmethod
    def parse(cls, spec: str) -> "Target":
        proto, rest = spec.split(":", 1)
        host, port = rest.rsplit(":", 1)
        return cls(proto, host.strip("[]"), int(port))


def ask(target: Target, timeout: float, source_port: int | None = None) -> str | None:
    """The source address the far side reported, or None when no answer came in time.

    UDP is re-sent every 200 ms from the same socket (one flow, one conntrack entry): right
    after a veth comes up the kernel can drop a first datagram while neighbour discovery runs.
    `source_port` pins the flow's port (a prober rotates them so no flow reuses a live one).
    """
    family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
    kind = socket.SOCK_DGRAM if target.proto == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + timeout
    with socket.socket(family, kind) as sock:
        try:
            if source_port is not None:
                # A TCP port may still be in TIME_WAIT from the last round; conntrack opens a
                # fresh entry for a new SYN on it, so reusing the port is safe.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", source_port))
            if target.proto == "tcp":
                sock.settimeout(timeout)
                sock.connect((target.address, target.port))
                return sock.recv(256).decode() or None
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(min(0.2, left))
                sock.sendto(b"probe", (target.address, target.port))
                try:
                    return sock.recv(256).decode() or None
                except TimeoutError:
                    continue
        except OSError:
            return None
    return None


def seen_sources(
    ns: Namespace, targets: Sequence[Target], timeout: float = 2.0
) -> dict[Target, str | None]:
    """Probe every target from inside `ns` in one process; map each to the source seen."""
    argv = ns.python(
        "testbed.netlab.probe", "--timeout", str(timeout), *(t.spec() for t in targets)
    )
    done = ns.run(*argv, timeout=5 + timeout * len(targets) * 2)
    results = [json.loads(line) for line in done.stdout.splitlines()]
    return {Target.parse(r["target"]): r["seen"] for r in results}


def seen_source(ns: Namespace, target: Target, timeout: float = 2.0) -> str | None:
    return seen_sources(ns, [target], timeout)[target]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("targets", nargs="+")
    args = parser.parse_args(argv)
    for spec in args.targets:
        seen = ask(Target.parse(spec), args.timeout)
        print(json.dumps({"target": spec, "seen": seen}), flush=True)


if __name__ == "__main__":
    main()
