"""The Grafana dashboard: every query names only the agent's metrics and evaluates in promtool."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from ip_masq_agent.metrics import AgentMetrics
from tests.monitoring.exported import exported_metric_names, metric_names_in
from tests.monitoring.promtool import run_promtool

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "src" / "pulumi_ip_masq_agent" / "dashboards" / "ip-masq-agent.json"
NODES = ("node-a", "node-b")
MINUTES = 30
# Grafana's own variables, as Grafana would expand them for a 30-minute view.
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$node": ".*"}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows hold their panels


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, expression) for every query of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable, metric, label) of every `label_values(metric, label)` variable."""
    found = []
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else ""
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert match, (variable["name"], query)
        found.append((variable["name"], match.group(1), match.group(2)))
    return found


def expand(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


def test_dashboard_covers_what_the_issue_asks() -> None:
    named = set().union(*(metric_names_in(expr) for _, expr in panel_queries()))
    assert {
        "ip_masq_agent_syncs_total",  # sync rate, failures by result
        "ip_masq_agent_sync_duration_seconds_bucket",  # sync duration
        "ip_masq_agent_config_current",  # config state per node
        "ip_masq_agent_desired_cidrs",  # desired CIDRs per family
        "ip_masq_agent_rules_rewritten_total",  # rules rewritten by reason
        "ip_masq_agent_backend_info",  # backend in use
    } <= named


def test_every_query_names_only_exported_metrics() -> None:
    exported = exported_metric_names()
    queries = [(title, expr) for title, expr in panel_queries()]
    queries += [(name, metric) for name, metric, _ in variable_queries()]
    assert queries
    for title, expr in queries:
        named = metric_names_in(expr)
        assert named, (title, expr)
        assert named <= exported, (title, sorted(named - exported))


def test_the_name_check_catches_a_misspelt_metric() -> None:
    expr = 'sum by (result) (rate(ip_masq_agent_sync_total{node=~".*"}[2m]))'
    assert metric_names_in(expr) == {"ip_masq_agent_sync_total"}
    assert "ip_masq_agent_sync_total" not in exported_metric_names()


def agent_series() -> list[dict[str, str]]:
    """30 minutes of two nodes' agents, named and labelled exactly as the agent exports them.

    Each node's real registry goes through a few syncs; its exposition becomes the series:
    counters (and histogram parts) grow by their value each minute, gauges hold theirs and
    timestamps advance a minute a minute. node-b keeps a last good config.
    """
    series = []
    for index, node in enumerate(NODES):
        registry = CollectorRegistry()
        metrics = AgentMetrics(registry, backend=("nftables", "iptables")[index])
        metrics.syncs.labels(result="ok").inc(3)
        metrics.syncs.labels(result="error").inc()
        metrics.sync_duration.observe(0.004)
        metrics.sync_duration.observe(0.03)
        metrics.config_reloads.labels(result="ok").inc()
        metrics.config_current.set(1 - index)
        metrics.desired_cidrs.labels(family="ipv4").set(5 + index)
        metrics.desired_cidrs.labels(family="ipv6").set(1)
        metrics.desired_digest.labels(family="ipv4", sha256=f"{index:012x}").set(1)
        metrics.rules_rewritten.labels(reason="initial").inc()
        metrics.rules_rewritten.labels(reason="drift").inc()
        metrics.last_success.set(60)
        metrics.last_queued.set(30)
        target = f'node="{node}",pod="ip-masq-agent-{node}",namespace="kube-system"'
        for line in generate_latest(registry).decode().splitlines():
            if not line or line.startswith("#") or "_created" in line.split(" ")[0]:
                continue
            name_and_labels, value = line.rsplit(" ", 1)
            name, _, labels = name_and_labels.partition("{")
            labels = labels.rstrip("}")
            selector = f"{name}{{{labels + ',' if labels else ''}{target}}}"
            number = float(value)
            if name.endswith(("_total", "_bucket", "_count", "_sum")):
                values = f"0+{number:g}x{MINUTES}"
            elif name.endswith("_timestamp_seconds"):
                values = f"{number:g}+60x{MINUTES}"
            else:
                values = f"{number:g}x{MINUTES}"
            series.append({"series": selector, "values": values})
    return series


def evaluation_tests(queries: list[tuple[str, str]]) -> dict[str, Any]:
    """A promtool unit test asserting each query returns at least one sample at minute 20."""
    return {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "dashboard queries over two agents",
                "interval": "1m",
                "input_series": agent_series(),
                "promql_expr_test": [
                    {
                        # 1 when the query returns samples, 0 when it returns none.
                        "expr": f"(count({expand(expr)}) > bool 0) or vector(0)",
                        "eval_time": "20m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                    for _, expr in queries
                ],
            }
        ],
    }


def test_every_query_evaluates_to_samples(promtool: str, tmp_path: Path) -> None:
    queries = panel_queries()
    queries += [
        (name, f"count by ({label}) ({metric})") for name, metric, label in variable_queries()
    ]
    unit = tmp_path / "dashboard.test.yaml"
    unit.write_text(yaml.safe_dump(evaluation_tests(queries), sort_keys=False))
    result = run_promtool(promtool, "test", "rules", unit)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "expr",
    [
        "rate(ip_masq_agent_syncs_totl[$__rate_interval])",  # misspelt: no samples
        'ip_masq_agent_desired_cidrs{family="inet"}',  # a label value the agent never uses
    ],
    ids=["misspelt-metric", "unknown-label-value"],
)
def test_an_empty_query_fails_the_evaluation(promtool: str, tmp_path: Path, expr: str) -> None:
    unit = tmp_path / "dashboard.test.yaml"
    unit.write_text(yaml.safe_dump(evaluation_tests([("broken", expr)]), sort_keys=False))
    result = run_promtool(promtool, "test", "rules", unit)
    assert result.returncode != 0
    assert "got: {} 0E+00" in result.stdout + result.stderr  # no samples, not a parse error
