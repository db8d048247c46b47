"""Where each sandbox agent answers HTTP (metrics, health), as a scraping pod and the node see it.

With `monitoring: podmonitor` the DaemonSet serves /metrics on the node's address (what the
PodMonitor scrapes, from a Prometheus pod elsewhere); without it, on the node's loopback only.
Health answers on the node's loopback (kubelet probes it there) and never on the node's address.
"""

from dataclasses import dataclass

from testbed.netlab.fetch import fetch
from testbed.netlab.node_agent import local_url
from testbed.sandbox.cluster_agents import SandboxCluster

METRIC = "ip_masq_agent_syncs_total"


@dataclass(frozen=True)
class EndpointCheck:
    """One GET from one namespace, what it should get and what it got."""

    node: str
    client: str
    url: str
    want: str
    got: str
    ok: bool


def _port(address: str) -> str:
    return address.rpartition(":")[2]


def _get(sandbox: SandboxCluster, client: str, url: str) -> tuple[int, str]:
    pods = sandbox.cluster.pods
    return fetch(pods[client] if client in pods else sandbox.cluster.nodes[client], url)


def _answered(status: int, body: str, want_metrics: bool) -> str:
    if status == 0:
        return "refused" if "refused" in body.lower() else f"no answer ({body[:60]})"
    if want_metrics:
        return f"{status}, {METRIC} {'present' if METRIC in body else 'MISSING'}"
    return f"{status}, {body.splitlines()[0] if body else '(empty)'}"


def check_endpoints(sandbox: SandboxCluster) -> list[EndpointCheck]:
    """For every node: /metrics and /healthz from a pod on another node; /metrics where the
    agent serves it and /healthz on loopback, from the node."""
    checks = []
    plan = sandbox.plan
    for node in plan.nodes:
        health_address, metrics_address = sandbox.listen_addresses(node.name)
        # Prometheus runs in some pod; one on another node crosses the VPC like it would.
        scraper = next((p for p in plan.pods if p.node != node.name), plan.pods[0])
        on_node_address = metrics_address.rpartition(":")[0] == str(node.ip4)
        health_port = _port(health_address)
        metrics_url = f"http://{node.ip4}:{_port(metrics_address)}/metrics"
        status, body = _get(sandbox, scraper.name, metrics_url)
        got = _answered(status, body, want_metrics=True)
        if on_node_address:
            want, ok = f"200, {METRIC} present", status == 200 and METRIC in body
        else:
            want, ok = "refused (metrics on loopback only)", got == "refused"
        checks.append(EndpointCheck(node.name, scraper.name, metrics_url, want, got, ok))
        health_url = f"http://{node.ip4}:{health_port}/healthz"
        status, body = _get(sandbox, scraper.name, health_url)
        got = _answered(status, body, want_metrics=False)
        checks.append(
            EndpointCheck(
                node.name,
                scraper.name,
                health_url,
                "refused (loopback only)",
                got,
                got == "refused",
            )
        )
        # The node itself reaches /metrics where the agent serves it, scraped or not.
        own_url = local_url(metrics_address, "/metrics")
        status, body = _get(sandbox, node.name, own_url)
        got = _answered(status, body, want_metrics=True)
        want = f"200, {METRIC} present"
        checks.append(EndpointCheck(node.name, node.name, own_url, want, got, got == want))
        loopback_url = f"http://127.0.0.1:{health_port}/healthz"
        status, body = _get(sandbox, node.name, loopback_url)
        got = _answered(status, body, want_metrics=False)
        checks.append(
            EndpointCheck(node.name, node.name, loopback_url, "200, ok", got, got == "200, ok")
        )
    return checks


def format_checks(checks: list[EndpointCheck]) -> list[str]:
    """Aligned rows: node, from, GET, want, got, verdict."""
    rows = [("node", "from", "GET", "want", "got", "verdict")]
    rows += [(c.node, c.client, c.url, c.want, c.got, "ok" if c.ok else "WRONG") for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
