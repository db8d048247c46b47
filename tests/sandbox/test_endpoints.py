"""Where the sandbox's agents answer HTTP: /metrics on the node's address only when scraped."""

import dataclasses

from sandbox.endpoints import METRIC, check_endpoints
from tests.sandbox.conftest import SandboxFactory, rendered


def test_podmonitor_stack_serves_metrics_on_the_nodes_address_health_on_loopback(
    make_sandbox: SandboxFactory,
) -> None:
    sandbox = make_sandbox(rendered("prod"), backend="iptables")  # monitoring: podmonitor
    checks = check_endpoints(sandbox)
    assert all(c.ok for c in checks), checks
    node = sandbox.plan.nodes[0]
    scraped = [c for c in checks if c.url == f"http://{node.ip4}:10262/metrics"]
    # From a pod on the other node, as a Prometheus would scrape it.
    assert [(c.client != node.name, c.got) for c in scraped if c.client.startswith("pod")] == [
        (True, f"200, {METRIC} present")
    ]
    refused = [c for c in checks if c.url == f"http://{node.ip4}:10261/healthz"]
    assert [c.got for c in refused] == ["refused"]


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
