"""A real Prometheus (Debian's) in a pod scrapes the sandbox's agents on the nodes' addresses.

The PodMonitor's target labels are given statically (no API server here), `container` too
(IpMasqAgentNotScraped selects the agent's `up` by it); the rules are the
plain rules file, the dashboard's queries the shipped dashboard's. What is checked is what a
person would look at: targets up, every dashboard panel showing data, the alert rules healthy
and quiet, and a bad ConfigMap on one node showing as that node's pending alert.
"""

import json
import shutil
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pulumi_ip_masq_agent.monitoring import AGENT_CONTAINER, alert_rules
from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Namespace
from testbed.sandbox.cluster_agents import SandboxCluster
from testbed.sandbox.endpoints import METRIC, check_endpoints
from tests.monitoring.test_dashboard import expand, panel_queries
from tests.sandbox.conftest import SandboxFactory, rendered
from tests.unavailable import cannot_run_here

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = "127.0.0.1:9090"  # inside the scraping pod's own namespace


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        reason = "prometheus not found (scripts/setup.sh installs Debian's prometheus)"
        cannot_run_here(reason)
    return path


def api(ns: Namespace, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    status, body = fetch(ns, f"http://{PROMETHEUS}/api/v1/{path}{query}", timeout=5.0)
    assert status == 200, body[:300]
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return answer["data"]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout}s")


def start_prometheus(sandbox: SandboxCluster, workdir: Path) -> Namespace:
    """Prometheus in a pod on node1, scraping both nodes' agents as the PodMonitor would."""
    plan = sandbox.plan
    scraper = next(p for p in plan.pods if p.node == plan.nodes[-1].name)
    targets = [
        {
            "targets": [sandbox.agents[node.name].metrics_address],
            "labels": {
                "namespace": "kube-system",
                "container": AGENT_CONTAINER,
                "pod": f"ip-masq-agent-derived-{node.name}",
                "node": node.name,
            },
        }
        for node in plan.nodes
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "monitoring" / "ip-masq-agent-rules.yaml")],
        "scrape_configs": [{"job_name": "ip-masq-agent", "static_configs": targets}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    ns = sandbox.cluster.pods[scraper.name]
    sandbox.lab.spawn(
        ns,
        prometheus_binary(),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address={PROMETHEUS}",
        output=workdir / "prometheus.log",
    )
    return ns


def test_prometheus_scrapes_the_agents_on_the_nodes_addresses_and_sees_a_rejected_config(
    make_sandbox: SandboxFactory, tmp_path: Path
) -> None:
    sandbox = make_sandbox(rendered("prod"), backend="iptables")  # monitoring: podmonitor
    # Where the agents answer: /metrics on each node's address, health on its loopback only.
    checks = check_endpoints(sandbox)
    assert all(c.ok for c in checks), checks
    node = sandbox.plan.nodes[0]
    from_pods = {c.url: c.got for c in checks if c.client.startswith("pod")}
    assert from_pods[f"http://{node.ip4}:10262/metrics"] == f"200, {METRIC} present"
    assert from_pods[f"http://{node.ip4}:10261/healthz"] == "refused"

    ns = start_prometheus(sandbox, tmp_path)

    def all_up() -> bool:
        try:
            results = api(ns, "query", query="up")["result"]
        except (AssertionError, json.JSONDecodeError):
            return False  # not listening yet
        return len(results) == 2 and all(r["value"][1] == "1" for r in results)

    wait_for("both agents scraped", all_up)
    # A few more scrapes, so rate() has two samples in every window.
    time.sleep(4)
    for title, expr in panel_queries():
        query = expand(expr).replace("[2m]", "[10s]")
        result = api(ns, "query", query=query)["result"]
        assert result, (title, query)

    groups = api(ns, "rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == {rule.alert for rule in alert_rules()}
    assert all(r["health"] == "ok" and r["state"] == "inactive" for r in rules.values()), rules

    # node0's copy of the ConfigMap turns invalid: it keeps its last good config, says so in
    # its metrics, and the warning is pending for node0 only (firing after 5 minutes).
    sandbox.publish("nonMasqueradeCIDRs: [not-a-cidr]\n", nodes=["node0"])

    def pending() -> list[dict[str, str]]:
        alerts = api(ns, "alerts")["alerts"]
        return [a["labels"] for a in alerts if a["state"] == "pending"]

    wait_for("IpMasqAgentConfigRejected pending", lambda: bool(pending()))
    [labels] = pending()
    assert labels == {
        "alertname": "IpMasqAgentConfigRejected",
        "severity": "warning",
        "namespace": "kube-system",
        "container": AGENT_CONTAINER,
        "pod": "ip-masq-agent-derived-node0",
        "node": "node0",
        "instance": sandbox.agents["node0"].metrics_address,
        "job": "ip-masq-agent",
    }
