"""HTTP endpoints: /healthz, /readyz and /metrics, served from a background thread."""

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ip_masq_agent.runner import HealthReport


def split_address(address: str) -> tuple[str, int]:
    """`host:port`, `:port` or `[v6]:port` -> (host, port); ValueError naming the flag."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid value {address!r} for flag -health-address: want HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class HealthServer:
    """Serves the runner's health report and the metrics registry."""

    def __init__(
        self,
        address: str,
        *,
        report: Callable[[], HealthReport],
        registry: CollectorRegistry,
    ) -> None:
        host, port = split_address(address)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    health = report()
                    good = health.healthy if path == "/healthz" else health.ready
                    body = (
                        health.body
                        if good or path == "/healthz"
                        else "not ready: no sync succeeded yet\n"
                    )
                    self._send(200 if good else 503, body.encode(), "text/plain; charset=utf-8")
                else:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would drown the agent's own log

        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="health",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
