"""The endpoint check catches a DaemonSet whose health answers off the node (the scraped
stack's own check runs with its Prometheus, tests/sandbox/test_prometheus_scrape.py)."""

import dataclasses

from testbed.sandbox.endpoints import METRIC, check_endpoints
from tests.sandbox.conftest import SandboxFactory, rendered


def test_a_daemon_set_serving_health_on_every_address_is_caught(
    make_sandbox: SandboxFactory,
) -> None:
    local = rendered("local")  # monitoring: none
    wide = tuple(
        "--health-address=0.0.0.0:10261" if a.startswith("--health-address=") else a
        for a in local.agent_args
    )
    sandbox = make_sandbox(dataclasses.replace(local, agent_args=wide), backend="iptables", nodes=1)
    checks = {(c.client, c.url): c for c in check_endpoints(sandbox)}
    node = sandbox.plan.nodes[0]
    pod = sandbox.plan.pods[0].name
    health = checks[pod, f"http://{node.ip4}:10261/healthz"]
    assert (health.ok, health.got) == (False, "200, ok")
    # Unscraped, /metrics stays on the node's loopback.
    metrics = checks[pod, f"http://{node.ip4}:10262/metrics"]
    assert (metrics.ok, metrics.got) == (True, "refused")
    own = checks[node.name, "http://127.0.0.1:10262/metrics"]
    assert (own.ok, own.got) == (True, f"200, {METRIC} present")
