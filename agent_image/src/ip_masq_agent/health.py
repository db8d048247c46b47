"""The agent's endpoints: /healthz and /readyz on the health address, /metrics on its own."""

from collections.abc import Callable
from typing import TYPE_CHECKING

from ip_masq_agent.contract import LIVENESS_PATH, METRICS_PATH, READINESS_PATH
from ip_masq_agent.flag_values import split_address
from ip_masq_agent.http_server import BoundedHttpServer, Response, Route
from ip_masq_agent.sync.verdict import HealthReport

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


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


def metrics_routes(
    registry: "CollectorRegistry | Callable[[], CollectorRegistry]",
) -> dict[str, Route]:
    """/metrics of `registry`, or of the one a callable names once the route is first asked:
    the agent binds its addresses before its first sync and loads prometheus_client after."""

    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

        current = registry() if callable(registry) else registry
        return Response(200, generate_latest(current), CONTENT_TYPE_LATEST)

    return {METRICS_PATH: metrics}


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
