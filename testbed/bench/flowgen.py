"""New-flow generator: UDP datagrams each from a distinct source port, as fast as one core can.

Run inside a lab namespace: `python -m testbed.bench.flowgen --dst 203.0.113.10 --flows 50000`.
One raw socket and one `sendto` per flow (the kernel adds the IP header; the UDP header with
the varying source port is ours), so Python pays one call per new conntrack entry and no socket
setup. Prints one JSON line: flows sent, seconds taken, CPU seconds used.
"""

import argparse
import json
import resource
import socket
import struct
import time

# Source ports cycle through this span; the bench flushes conntrack between bursts, so a burst
# of up to 64,000 flows never reuses a tuple.
FIRST_PORT = 1024
PORT_SPAN = 64000


def datagrams(dport: int, count: int, first_port: int = FIRST_PORT) -> list[bytes]:
    """UDP header + 1 payload byte per source port (checksum 0: allowed for IPv4 UDP)."""
    return [
        struct.pack("!HHHH", first_port + i % PORT_SPAN, dport, 9, 0) + b"x" for i in range(count)
    ]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def blast(dst: str, dport: int, count: int, max_seconds: float) -> tuple[int, float, float]:
    """Send up to `count` flows within `max_seconds`; returns (sent, elapsed, CPU seconds).

    The node's NAT work runs in softirq context on the sending CPU, mostly inside our
    `sendto` calls, so our CPU time per flow includes it; unlike wall time it does not grow
    when other jobs on the machine take the CPU away.
    """
    packets = datagrams(dport, count)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    sock.setblocking(False)
    target = (dst, 0)
    send = sock.sendto
    sent = 0
    cpu_start = _cpu()
    start = time.perf_counter()
    deadline = start + max_seconds
    # Check the clock every 1,000 sends: the loop body stays one call.
    for offset in range(0, count, 1000):
        for packet in packets[offset : offset + 1000]:
            try:
                send(packet, target)
            except BlockingIOError:  # qdisc full: the path is slower than the generator
                continue
            sent += 1
        if time.perf_counter() > deadline:
            break
    return sent, time.perf_counter() - start, _cpu() - cpu_start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dst", required=True)
    parser.add_argument("--dport", type=int, default=9)
    parser.add_argument("--flows", type=int, default=50000)
    parser.add_argument("--max-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    if not 0 < args.flows <= PORT_SPAN:
        parser.error(f"--flows must be within 1..{PORT_SPAN}")
    sent, elapsed, cpu = blast(args.dst, args.dport, args.flows, args.max_seconds)
    print(json.dumps({"sent": sent, "seconds": elapsed, "cpu_seconds": cpu}), flush=True)


if __name__ == "__main__":
    main()
