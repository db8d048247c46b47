"""The agent's endpoints: /healthz and /readyz on the health address, /metrics on its own."""

import re
from collections.abc import Callable
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ip_masq_agent.contract import LIVENESS_PATH, METRICS_PATH, READINESS_PATH
from ip_masq_agent.http_server import BoundedHttpServer, Response, Route
from ip_masq_agent.sync.verdict import HealthReport

_ADDRESS: Final = re.compile(r"(.*):([0-9]{1,5})")  # ASCII digits only, as Go's net package


def split_address(address: str, flag: str = "health-address") -> tuple[str, int]:
    """`host:port`, `:port` or `[v6]:port` -> (host, port); ValueError naming the flag."""
    match = _ADDRESS.fullmatch(address)
    if match is None or int(match.group(2)) > 65535:
        raise ValueError(f"invalid value {address!r} for flag -{flag}: want HOST:PORT")
    return match.group(1).strip("[]") or "0.0.0.0", int(match.group(2))


def health_routes(report: Callable[[], HealthReport]) -> dict[str, Route]:
    """/healthz (liveness) and /readyz (first sync done, no writer fighting ours): status lines
    and counts only."""

    def healthz() -> Response:
        health = report()
        return Response(200 if health.healthy else 503, health.body.encode())

    def readyz() -> Response:
        health = report()
        if health.ready:
            return Response(200, health.body.encode())
        return Response(503, f"not ready: {health.unready}\n".encode())

    return {LIVENESS_PATH: healthz, READINESS_PATH: readyz}


def metrics_routes(registry: CollectorRegistry) -> dict[str, Route]:
    return {METRICS_PATH: lambda: Response(200, generate_latest(registry), CONTENT_TYPE_LATEST)}


class HealthServer:
    """One listening address serving some of the agent's routes."""

    def __init__(self, address: str, routes: dict[str, Route], *, flag: str) -> None:
        host, port = split_address(address, flag)
        self._server = BoundedHttpServer(host, port, routes, name=flag)

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
