"""The offline CRD-schema check itself: it accepts valid objects and refuses broken ones."""

import copy
from typing import Any

import pytest

from pulumi_ip_masq_agent.alert_rules import rule_groups
from pulumi_ip_masq_agent.monitoring import DEFAULT_SELECTOR_LABELS
from pulumi_ip_masq_agent.scrape_targets import pod_monitor_spec, pod_monitoring_spec
from tests.monitoring.crd_schema import load_crd_schemas, validation_errors

SCHEMAS = load_crd_schemas()


def pod_monitor() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": "ip-masq-agent",
            "namespace": "kube-system",
            "labels": dict(DEFAULT_SELECTOR_LABELS),
        },
        "spec": pod_monitor_spec(
            {"app.kubernetes.io/name": "ip-masq-agent"}, namespace="kube-system"
        ),
    }


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "ip-masq-agent",
            "namespace": "kube-system",
            "labels": dict(DEFAULT_SELECTOR_LABELS),
        },
        "spec": {"groups": rule_groups()},
    }


def pod_monitoring() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.googleapis.com/v1",
        "kind": "PodMonitoring",
        "metadata": {"name": "ip-masq-agent", "namespace": "kube-system"},
        "spec": pod_monitoring_spec({"app.kubernetes.io/name": "ip-masq-agent"}),
    }


def gmp_rules() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.googleapis.com/v1",
        "kind": "Rules",
        "metadata": {"name": "ip-masq-agent", "namespace": "kube-system"},
        "spec": {"groups": rule_groups(evaluation_interval=True)},
    }


def test_the_schemas_are_the_operators_and_gmps_v1_crds() -> None:
    assert set(SCHEMAS) == {
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.googleapis.com/v1", "PodMonitoring"),
        ("monitoring.googleapis.com/v1", "Rules"),
    }


@pytest.mark.parametrize(
    "make",
    [pod_monitor, prometheus_rule, pod_monitoring, gmp_rules],
    ids=["podmonitor", "rule", "podmonitoring", "gmp-rules"],
)
def test_the_monitoring_objects_are_valid(make: Any) -> None:
    assert validation_errors(make(), SCHEMAS) == []


def _broken(make: Any, path: list[Any], value: Any) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(make())
    target: Any = obj
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("make", "path", "value", "message"),
    [
        (pod_monitor, ["spec", "selector"], KeyError, "spec: 'selector' is a required property"),
        (
            pod_monitor,
            ["spec", "podMetricsEndpoints", 0, "port"],
            10262,
            "spec.podMetricsEndpoints.0.port: 10262 is not of type 'string'",
        ),
        (
            pod_monitor,
            ["spec", "podMetricsEndpoints", 0, "interval"],
            "30 seconds",
            "spec.podMetricsEndpoints.0.interval: '30 seconds' does not match",
        ),
        (
            pod_monitor,
            ["spec", "podMetricEndpoints"],
            [],
            "Additional properties are not allowed ('podMetricEndpoints' was unexpected)",
        ),
        (
            prometheus_rule,
            ["spec", "groups", 0, "rules", 0, "for"],
            "5 minutes",
            "spec.groups.0.rules.0.for: '5 minutes' does not match",
        ),
        (
            prometheus_rule,
            ["spec", "groups", 0, "rules", 0, "labels", "severity"],
            2,
            "spec.groups.0.rules.0.labels.severity: 2 is not of type 'string'",
        ),
        (
            prometheus_rule,
            ["metadata", "labels", "release"],
            "kube prometheus",
            "metadata.labels.release: 'kube prometheus' is not a label value",
        ),
        (
            prometheus_rule,
            ["metadata", "name"],
            "IpMasqAgent",
            "metadata.name: 'IpMasqAgent' is not a DNS-1123 subdomain",
        ),
        (
            pod_monitoring,
            ["spec", "podMetricsEndpoints"],
            [],
            "Additional properties are not allowed ('podMetricsEndpoints' was unexpected)",
        ),
        (
            pod_monitoring,
            ["spec", "endpoints", 0, "port"],
            KeyError,
            "spec.endpoints.0: 'port' is a required property",
        ),
        (
            pod_monitoring,
            ["spec", "endpoints", 0, "interval"],
            "30 seconds",
            "spec.endpoints.0.interval: '30 seconds' does not match",
        ),
        (
            pod_monitoring,
            ["spec", "targetLabels", "metadata"],
            ["node_name"],
            "spec.targetLabels.metadata.0: 'node_name' is not one of",
        ),
        (
            pod_monitoring,
            ["spec", "endpoints", 0, "metricRelabeling"],
            [{"action": "labelmap", "regex": "__meta_(.+)"}],
            "spec.endpoints.0.metricRelabeling.0.action: 'labelmap' is not one of",
        ),
        (
            gmp_rules,
            ["spec", "groups", 0, "interval"],
            KeyError,
            "spec.groups.0: 'interval' is a required property",
        ),
        (
            gmp_rules,
            ["spec", "groups", 0, "rules", 0, "record"],
            "ip_masq_agent:config_current",
            "is valid under each of {'required': ['record']}, {'required': ['alert']}",
        ),
    ],
    ids=[
        "no-selector",
        "numeric-port",
        "bad-interval",
        "misspelt-field",
        "bad-for",
        "numeric-label",
        "bad-label-value",
        "bad-name",
        "gmp-operator-field",
        "gmp-no-port",
        "gmp-bad-interval",
        "gmp-unknown-target-label",
        "gmp-labelmap",
        "gmp-no-group-interval",
        "gmp-alert-and-record",
    ],
)
def test_broken_objects_are_refused(make: Any, path: list[Any], value: Any, message: str) -> None:
    errors = validation_errors(_broken(make, path, value), SCHEMAS)
    assert any(message in error for error in errors), errors


def test_an_unknown_kind_is_refused() -> None:
    obj = pod_monitor() | {"kind": "ServiceMonitor"}
    assert validation_errors(obj, SCHEMAS) == [
        "ServiceMonitor kube-system/ip-masq-agent: no CRD schema for "
        "monitoring.coreos.com/v1 ServiceMonitor in crds/"
    ]
