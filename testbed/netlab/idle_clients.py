"""Idle TCP clients, as a hostile pod would hold them: connect N times, send nothing, wait.

Run inside a namespace: `python -m testbed.netlab.idle_clients 127.0.0.1 10261 300 --hold 20`;
prints `held N` once connected, then keeps the sockets open until `--hold` seconds pass or it is
killed. Only the given address is ever contacted (the lab's own loopback or veth addresses).
"""

import argparse
import socket
import sys
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--hold", type=float, default=20.0)
    args = parser.parse_args(argv)
    held = []
    for _ in range(args.count):
        try:
            held.append(socket.create_connection((args.host, args.port), timeout=2.0))
        except OSError:
            break  # a full backlog: what got in is held
    print(f"held {len(held)}", flush=True)
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        time.sleep(0.2)
    for sock in held:
        sock.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
