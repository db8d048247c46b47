"""The HTTP endpoints on loopback: health and readiness follow the runner, metrics export."""

import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from ip_masq_agent.flag_values import split_address
from ip_masq_agent.health import HealthServer, health_routes, metrics_routes
from ip_masq_agent.http_server import BoundedHttpServer
from ip_masq_agent.metrics import AgentMetrics
from ip_masq_agent.sync.verdict import HealthReport


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

    health = HealthServer("127.0.0.1:0", health_routes(lambda: report), flag="health-address")
    metrics = HealthServer("127.0.0.1:0", metrics_routes(registry), flag="metrics-address")
    health.start()
    metrics.start()
    try:
        assert _get(health.port, "/healthz") == (200, "ok\n")
        assert _get(health.port, "/readyz")[0] == 503
        report = HealthReport(healthy=False, ready=True, body="unhealthy: stuck\n")
        assert _get(health.port, "/healthz") == (503, "unhealthy: stuck\n")
        assert _get(health.port, "/readyz")[0] == 200
        # /metrics lives on its own address only.
        assert _get(health.port, "/metrics")[0] == 404
        assert _get(metrics.port, "/healthz")[0] == 404
        status, text = _get(metrics.port, "/metrics?x=1")
        assert status == 200
        assert 'ip_masq_agent_backend_info{backend="iptables"} 1.0' in text
        assert "ip_masq_agent_sync_duration_seconds_bucket" in text
        assert _get(health.port, "/nope")[0] == 404
    finally:
        health.stop()
        metrics.stop()


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


@pytest.mark.parametrize(
    "address", ["10261", "host:", "host:99999", "host:x", "host:\u0661\u0660", "host:+80"]
)
def test_split_address_rejects(address: str) -> None:
    with pytest.raises(ValueError, match="flag -metrics-address"):
        split_address(address, "metrics-address")


def test_shared_address_serves_all_three_paths() -> None:
    registry = CollectorRegistry()
    AgentMetrics(registry, backend="nftables")
    report = HealthReport(healthy=True, ready=True, body="ok\n")
    server = HealthServer(
        "127.0.0.1:0",
        {**health_routes(lambda: report), **metrics_routes(registry)},
        flag="health-address",
    )
    server.start()
    try:
        assert _get(server.port, "/readyz") == (200, "ok\n")
        assert "ip_masq_agent_backend_info" in _get(server.port, "/metrics")[1]
    finally:
        server.stop()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_held_idle_connections_cost_no_threads_and_do_not_delay_probes() -> None:
    report = HealthReport(healthy=True, ready=True, body="ok\n")
    server = BoundedHttpServer(
        "127.0.0.1", 0, health_routes(lambda: report), max_pending=256, read_timeout=30.0
    )
    server.start()
    held: list[socket.socket] = []
    try:
        threads = threading.active_count()
        # More idle sockets than the server keeps: the oldest are dropped, probes get in.
        for _ in range(320):
            held.append(_connect(server.port))
        half = _connect(server.port)
        held.append(half)
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
        started = time.monotonic()
        for _ in range(5):
            assert _get(server.port, "/healthz") == (200, "ok\n")
        assert time.monotonic() - started < 2.0
        # One thread per connection would be 300 more; the pool is fixed.
        assert threading.active_count() <= threads + 1
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_idle_and_slow_connections_are_closed_after_the_read_timeout() -> None:
    report = HealthReport(healthy=True, ready=True, body="ok\n")
    server = BoundedHttpServer("127.0.0.1", 0, health_routes(lambda: report), read_timeout=0.5)
    server.start()
    try:
        idle = _connect(server.port)
        slow = _connect(server.port)
        started = time.monotonic()
        # A byte every 0.2 s never completes a head: the deadline is per request, not per byte.
        while time.monotonic() - started < 1.5:
            try:
                slow.sendall(b"G")
            except OSError:
                break
            time.sleep(0.2)
        assert time.monotonic() - started < 1.5, "the slow client was never cut off"
        assert idle.recv(1) == b""  # closed by the server, nothing sent
        idle.close()
        slow.close()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /healthz HTTP/1.0\r\n\r\n", b"200", id="ok"),
        pytest.param(b"POST /healthz HTTP/1.1\r\n\r\n", b"405", id="post"),
        pytest.param(b"\x16\x03\x01garbage\r\n\r\n", b"400", id="tls"),
    ],
)
def test_raw_requests(request_bytes: bytes, status: bytes) -> None:
    report = HealthReport(healthy=True, ready=True, body="ok\n")
    server = BoundedHttpServer("127.0.0.1", 0, health_routes(lambda: report))
    server.start()
    try:
        with _connect(server.port) as sock:
            sock.sendall(request_bytes)
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        assert reply.split(b" ", 2)[1] == status
    finally:
        server.stop()


def test_a_head_reaching_8_kib_is_answered_400_without_reading_more() -> None:
    report = HealthReport(healthy=True, ready=True, body="ok\n")
    server = BoundedHttpServer("127.0.0.1", 0, health_routes(lambda: report), read_timeout=30.0)
    server.start()
    try:
        with _connect(server.port) as sock:
            start = b"GET /healthz HTTP/1.1\r\nX: "
            sock.sendall(start + b"y" * (8192 - len(start)))
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.0 400 ")
    finally:
        server.stop()
