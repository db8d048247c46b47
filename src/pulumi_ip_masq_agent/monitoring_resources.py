"""The IpMasqAgent component's Prometheus Operator objects: a PodMonitor and a PrometheusRule."""

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from ip_masq_agent.duration import parse_go_duration
from pulumi_ip_masq_agent.monitoring import (
    DASHBOARD_FILE,
    GRAFANA_DASHBOARD_LABELS,
    dashboard_json,
    pod_monitor_spec,
    rule_groups,
)

API_VERSION = "monitoring.coreos.com/v1"


def register_monitoring(
    name: str,
    *,
    namespace: str,
    object_name: str,
    pod_labels: Mapping[str, str],
    labels: pulumi.Input[Mapping[str, pulumi.Input[str]]],
    resync_interval: pulumi.Input[str],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
) -> tuple[k8s.apiextensions.CustomResource, k8s.apiextensions.CustomResource]:
    """The PodMonitor scraping the agent's pods and the PrometheusRule alerting on them.

    `labels` are what the Prometheus' podMonitorSelector and ruleSelector match; the stale
    bound of the rules follows `resync_interval`, the same value the ConfigMap carries.
    """
    pod_monitor = k8s.apiextensions.CustomResource(
        f"{name}-podmonitor",
        api_version=API_VERSION,
        kind="PodMonitor",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels),
        spec=pod_monitor_spec(pod_labels, namespace=namespace),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
    groups = pulumi.Output.from_input(resync_interval).apply(
        lambda text: rule_groups(parse_go_duration(text))
    )
    rule = k8s.apiextensions.CustomResource(
        f"{name}-rules",
        api_version=API_VERSION,
        kind="PrometheusRule",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels),
        spec={"groups": groups},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pod_monitor, rule


def register_dashboard(
    name: str, *, namespace: str, object_name: str, parent: pulumi.Resource
) -> k8s.core.v1.ConfigMap:
    """The Grafana dashboard as a ConfigMap that Grafana's dashboard sidecar loads."""
    return k8s.core.v1.ConfigMap(
        f"{name}-dashboard",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=object_name, namespace=namespace, labels=GRAFANA_DASHBOARD_LABELS
        ),
        data={DASHBOARD_FILE: dashboard_json()},
        opts=pulumi.ResourceOptions(parent=parent),
    )
