"""The HTTP endpoints on loopback: health and readiness follow the runner, metrics export."""

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from ip_masq_agent.health import HealthServer, split_address
from ip_masq_agent.metrics import AgentMetrics
from ip_masq_agent.runner import HealthReport


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_endpoints() -> None:
    registry = CollectorRegistry()
    AgentMetrics(registry, backend="iptables")
    report = HealthReport(healthy=True, ready=False, body="ok\n")

    server = HealthServer("127.0.0.1:0", report=lambda: report, registry=registry)
    server.start()
    try:
        assert _get(server.port, "/healthz") == (200, "ok\n")
        assert _get(server.port, "/readyz")[0] == 503
        report = HealthReport(healthy=False, ready=True, body="unhealthy: stuck\n")
        assert _get(server.port, "/healthz") == (503, "unhealthy: stuck\n")
        assert _get(server.port, "/readyz")[0] == 200
        status, metrics = _get(server.port, "/metrics")
        assert status == 200
        assert 'ip_masq_agent_backend_info{backend="iptables"} 1.0' in metrics
        assert "ip_masq_agent_sync_duration_seconds_bucket" in metrics
        assert _get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param(":10261", ("0.0.0.0", 10261), id="port-only"),
        pytest.param("127.0.0.1:1", ("127.0.0.1", 1), id="v4"),
        pytest.param("[::1]:10261", ("::1", 10261), id="v6"),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["10261", "host:", "host:99999", "host:x"])
def test_split_address_rejects(address: str) -> None:
    with pytest.raises(ValueError, match="flag -health-address"):
        split_address(address)
