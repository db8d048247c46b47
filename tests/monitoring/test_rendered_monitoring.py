"""`monitoring: podmonitor` and `gmp` through the real program: objects, schemas, the scrape."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ip_masq_agent.duration import parse_go_duration
from ip_masq_agent.flags import parse_flags
from pulumi_ip_masq_agent.ip_masq_agent import DAEMON_SET_NAME, IpMasqAgent
from pulumi_ip_masq_agent.monitoring import AGENT_CONTAINER, METRICS_PORT, alert_rules, rule_groups
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.settings import SettingsError, parse_settings
from testbed.harness.offline import RenderResult, load_stack_config, main, render_stack
from tests.monitoring.crd_schema import load_crd_schemas, validation_errors

ROOT = Path(__file__).resolve().parents[2]
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
GMP_RULES = "kubernetes:monitoring.googleapis.com/v1:Rules"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def render_with(stack: str, **overrides: str) -> RenderResult:
    config = load_stack_config(stack)
    config.update({f"ip-masq-agent:{k}": v for k, v in overrides.items()})
    return render_stack(stack, config=config)


def one(result: RenderResult, type_token: str) -> dict[str, Any]:
    found = result.of_type(type_token)
    assert len(found) == 1, [r.name for r in found]
    return found[0].inputs


def agent_container(result: RenderResult) -> dict[str, Any]:
    containers = one(result, DAEMON_SET)["spec"]["template"]["spec"]["containers"]
    container: dict[str, Any] = next(c for c in containers if c["name"] == "ip-masq-agent")
    return container


@pytest.fixture(scope="module")
def prod() -> RenderResult:
    # Pulumi.prod.yaml asks for `monitoring: podmonitor`.
    return render_stack("prod")


@pytest.fixture(scope="module")
def dev_scraped() -> RenderResult:
    # dev: resyncInterval 30s, a kube-prometheus-stack installed as Helm release `monitoring`.
    return render_with("dev", monitoring="podmonitor", monitoringLabels='["release=monitoring"]')


@pytest.fixture(scope="module")
def gmp() -> RenderResult:
    # prod (a GKE Standard cluster) with GKE Managed Service for Prometheus instead.
    return render_with("prod", monitoring="gmp")


def test_podmonitor_stack_renders_both_objects_valid_against_the_crds(prod: RenderResult) -> None:
    schemas = load_crd_schemas()
    for type_token in (POD_MONITOR, PROMETHEUS_RULE):
        obj = one(prod, type_token)
        assert obj["metadata"]["namespace"] == "kube-system"
        # kube-prometheus-stack's default podMonitorSelector and ruleSelector.
        assert obj["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
        assert validation_errors(obj, schemas) == []


def test_labels_follow_monitoring_labels(dev_scraped: RenderResult) -> None:
    schemas = load_crd_schemas()
    for type_token in (POD_MONITOR, PROMETHEUS_RULE):
        obj = one(dev_scraped, type_token)
        assert obj["metadata"]["labels"] == {"release": "monitoring"}
        assert validation_errors(obj, schemas) == []


def test_rules_are_the_plain_rules_file_for_the_default_interval(prod: RenderResult) -> None:
    plain = yaml.safe_load((ROOT / "monitoring" / "ip-masq-agent-rules.yaml").read_text())
    assert one(prod, PROMETHEUS_RULE)["spec"]["groups"] == plain["groups"]


def test_stale_bound_follows_the_stacks_resync_interval(dev_scraped: RenderResult) -> None:
    document = yaml.safe_load(one(dev_scraped, "kubernetes:core/v1:ConfigMap")["data"]["config"])
    assert document["resyncInterval"] == "30s"
    groups = one(dev_scraped, PROMETHEUS_RULE)["spec"]["groups"]
    assert groups == rule_groups(parse_go_duration("30s"))
    stale = next(r for r in groups[0]["rules"] if r["alert"] == "IpMasqAgentSyncStale")
    assert stale["expr"].endswith("> 150")  # 3 x 30 s + 2 scrapes of 30 s


def test_podmonitor_scrapes_the_named_port_on_the_nodes_address(prod: RenderResult) -> None:
    pod_monitor = one(prod, POD_MONITOR)["spec"]
    template = one(prod, DAEMON_SET)["spec"]["template"]
    # The selector picks the DaemonSet's pods, in their namespace.
    selector = pod_monitor["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    assert pod_monitor["namespaceSelector"] == {"matchNames": ["kube-system"]}
    [endpoint] = pod_monitor["podMetricsEndpoints"]
    container = agent_container(prod)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[endpoint["port"]] == METRICS_PORT
    assert endpoint["path"] == "/metrics"
    # --metrics-address is the node's address (kubelet expands $(NODE_IP) from the env var).
    [node_ip] = [e for e in container["env"] if e["name"] == "NODE_IP"]
    assert node_ip["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    options = parse_flags(container["args"])
    assert options.metrics_address == f"$(NODE_IP):{METRICS_PORT}"
    # Health is not what Prometheus scrapes: it keeps its own address, not the node's.
    assert "NODE_IP" not in options.health_address
    assert ports["health"] != METRICS_PORT


def test_gmp_stack_renders_a_podmonitoring_and_rules_valid_against_the_crds(
    gmp: RenderResult,
) -> None:
    schemas = load_crd_schemas()
    assert not gmp.of_type(POD_MONITOR)
    assert not gmp.of_type(PROMETHEUS_RULE)
    for type_token in (POD_MONITORING, GMP_RULES):
        obj = one(gmp, type_token)
        assert obj["apiVersion"] == "monitoring.googleapis.com/v1"
        # Namespaced: a PodMonitoring selects pods of its namespace, a Rules' queries see only
        # its namespace's series; both are the agent's.
        assert obj["metadata"]["namespace"] == "kube-system"
        assert obj["metadata"]["name"] == DAEMON_SET_NAME
        assert validation_errors(obj, schemas) == []


def test_gmp_rules_are_the_podmonitor_rules_with_an_evaluation_interval(gmp: RenderResult) -> None:
    groups = one(gmp, GMP_RULES)["spec"]["groups"]
    assert groups == rule_groups(evaluation_interval=True)
    [group] = groups
    assert group["interval"] == "30s"
    assert {k: v for k, v in group.items() if k != "interval"} == rule_groups()[0]


def test_podmonitoring_scrapes_the_named_port_on_the_nodes_address(gmp: RenderResult) -> None:
    spec = one(gmp, POD_MONITORING)["spec"]
    template = one(gmp, DAEMON_SET)["spec"]["template"]
    assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    [endpoint] = spec["endpoints"]
    container = agent_container(gmp)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[endpoint["port"]] == METRICS_PORT
    assert (endpoint["path"], endpoint["interval"]) == ("/metrics", "30s")
    # `node` and `container` as the PodMonitor's series carry them: the dashboard's and the
    # rules' selectors hold for both.
    assert {"container", "node", "pod"} <= set(spec["targetLabels"]["metadata"])
    assert parse_flags(container["args"]).metrics_address == f"$(NODE_IP):{METRICS_PORT}"
    [node_ip] = [e for e in container["env"] if e["name"] == "NODE_IP"]
    assert node_ip["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}


def test_gmp_daemon_set_is_the_podmonitor_one(prod: RenderResult, gmp: RenderResult) -> None:
    # Only the scrape objects differ: the agent is served and started the same way.
    assert one(gmp, DAEMON_SET) == one(prod, DAEMON_SET)


def test_gmp_with_the_dashboard() -> None:
    result = render_with("prod", monitoring="gmp", grafanaDashboard="true")
    names = [r.inputs["metadata"]["name"] for r in result.of_type(CONFIG_MAP)]
    assert "ip-masq-agent-dashboard" in names


def test_the_not_scraped_alert_selects_the_daemon_sets_container(prod: RenderResult) -> None:
    # IpMasqAgentNotScraped finds the agent's `up` by the scraped container's name.
    containers = one(prod, DAEMON_SET)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == [AGENT_CONTAINER]
    not_scraped = next(r for r in alert_rules() if r.alert == "IpMasqAgentNotScraped")
    assert f'container="{AGENT_CONTAINER}"' in not_scraped.expr


def test_without_monitoring_metrics_stay_on_loopback() -> None:
    result = render_stack("local")
    assert not result.of_type(POD_MONITOR)
    assert not result.of_type(PROMETHEUS_RULE)
    container = agent_container(result)
    assert not any(a.startswith("--metrics-address") for a in container["args"])
    assert parse_flags(container["args"]).metrics_address == f"127.0.0.1:{METRICS_PORT}"
    assert [p["name"] for p in container["ports"]] == ["health"]
    assert "env" not in container


def test_make_render_writes_the_podmonitor_and_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "prod", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in (tmp_path / "prod").iterdir())
    assert f"podmonitor-kube-system-{DAEMON_SET_NAME}.yaml" in files
    assert f"prometheusrule-kube-system-{DAEMON_SET_NAME}.yaml" in files
    written = yaml.safe_load(
        (
            tmp_path
            / "prod"
            / files[files.index(f"prometheusrule-kube-system-{DAEMON_SET_NAME}.yaml")]
        ).read_text()
    )
    assert validation_errors(written, load_crd_schemas()) == []
    capsys.readouterr()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"monitoring": "servicemonitor"},
            "ip-masq-agent:monitoring: 'servicemonitor' is not one of none, podmonitor, gmp",
        ),
        (
            {"platform": "gke-managed-agent"},
            "ip-masq-agent:monitoring: 'podmonitor' scrapes our agent's DaemonSet, which platform "
            "gke-managed-agent does not deploy",
        ),
        (
            {"platform": "gke-managed-agent", "monitoring": "gmp"},
            "ip-masq-agent:monitoring: 'gmp' scrapes our agent's DaemonSet, which platform "
            "gke-managed-agent does not deploy",
        ),
        (
            {"monitoringLabels": '["release"]'},
            "ip-masq-agent:monitoringLabels[0]: 'release' is not name=value",
        ),
        (
            {"monitoringLabels": '["release=kube prometheus"]'},
            "ip-masq-agent:monitoringLabels[0]: 'kube prometheus' is not a label value",
        ),
        (
            {"monitoringLabels": '["team=net", "-bad=x"]'},
            "ip-masq-agent:monitoringLabels[1]: '-bad' is not a label name",
        ),
    ],
    ids=["unknown-mode", "no-daemonset", "gmp-no-daemonset", "no-equals", "bad-value", "bad-name"],
)
def test_bad_monitoring_config_fails_in_one_line(overrides: dict[str, str], message: str) -> None:
    config = load_stack_config("prod")
    raw = {k.removeprefix("ip-masq-agent:"): v for k, v in config.items() if ":" in k}
    raw = {k: v for k, v in raw.items() if not k.startswith("gcp:")} | overrides
    gcp = {k.removeprefix("gcp:"): v for k, v in config.items() if k.startswith("gcp:")}
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, gcp=gcp)
    assert str(caught.value) == message


def test_the_program_stops_on_bad_monitoring_config() -> None:
    with pytest.raises(SettingsError, match=r"^ip-masq-agent:monitoringLabels\[0\]: "):
        render_with("prod", monitoringLabels='["release"]')


@pytest.mark.parametrize("mode", ["podmonitor", "gmp"])
def test_the_component_refuses_scraping_without_its_daemon_set(mode: str) -> None:
    with pytest.raises(ValueError, match=f"monitoring {mode} scrapes our agent's DaemonSet"):
        IpMasqAgent(
            "agent",
            {
                "ranges": [{"cidr": "10.0.0.0/16", "label": "pods"}],
                "platform": Platform.GKE_MANAGED_AGENT,
                "monitoring": mode,  # type: ignore[typeddict-item]
            },
        )


def test_grafana_dashboard_configmap_when_the_stack_asks() -> None:
    result = render_with("prod", grafanaDashboard="true")
    [dashboard] = [
        r.inputs
        for r in result.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == "ip-masq-agent-dashboard"
    ]
    assert dashboard["metadata"]["namespace"] == "kube-system"
    # kube-prometheus-stack's Grafana sidecar: label grafana_dashboard, value "1", any namespace.
    assert dashboard["metadata"]["labels"] == {"grafana_dashboard": "1"}
    shipped = ROOT / "src" / "pulumi_ip_masq_agent" / "dashboards" / "ip-masq-agent.json"
    assert dashboard["data"] == {"ip-masq-agent.json": shipped.read_text()}
    assert json.loads(dashboard["data"]["ip-masq-agent.json"])["uid"] == "ip-masq-agent"
    # Not asked: no dashboard ConfigMap.
    assert [r.inputs["metadata"]["name"] for r in render_stack("prod").of_type(CONFIG_MAP)] == [
        "ip-masq-agent"
    ]


def test_a_dashboard_without_scraping_is_refused() -> None:
    with pytest.raises(
        SettingsError,
        match=r"^ip-masq-agent:grafanaDashboard: true needs monitoring: podmonitor or gmp ",
    ):
        render_with("local", grafanaDashboard="true")
