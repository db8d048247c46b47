"""Echo server for lab hosts: answers every TCP connection and UDP datagram with the peer's address.

Run inside a namespace: `python -m testbed.netlab.echo --port 7777`. It prints `ready` once
listening.
"""

import argparse
import contextlib
import ipaddress
import selectors
import socket
import sys


def peer_text(address: str) -> str:
    """The source address as the destination saw it (IPv4-mapped IPv6 shown as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _dual_stack(kind: socket.SocketKind, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    return sock


def serve(port: int) -> None:
    udp = _dual_stack(socket.SOCK_DGRAM, port)
    # Also reported for IPv4 datagrams on this dual-stack socket, as a v4-mapped address.
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    tcp = _dual_stack(socket.SOCK_STREAM, port)
    tcp.listen(512)
    selector = selectors.DefaultSelector()
    selector.register(udp, selectors.EVENT_READ)
    selector.register(tcp, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:  # runs until the lab kills it
        for key, _ in selector.select():
            if key.fileobj is udp:
                _, ancillary, _, peer = udp.recvmsg(2048, socket.CMSG_SPACE(20))
                # Reply from the address the datagram was sent to (the kernel would pick the
                # interface's primary address): NAT on the way back only matches that flow.
                pktinfo = [
                    (level, kind, data[:16] + bytes(4))
                    for level, kind, data in ancillary
                    if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO
                ]
                udp.sendmsg([peer_text(peer[0]).encode()], pktinfo, 0, peer)
            else:
                conn, peer = tcp.accept()
                with conn:
                    conn.settimeout(1.0)
                    with contextlib.suppress(OSError):
                        conn.sendall(peer_text(peer[0]).encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7777)
    args = parser.parse_args(argv)
    try:
        serve(args.port)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
