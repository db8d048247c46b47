"""The IpMasqAgent component's scrape and rule objects: the Prometheus Operator's or GMP's."""

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from ip_masq_agent.duration import parse_go_duration
from pulumi_ip_masq_agent.alert_rules import rule_groups
from pulumi_ip_masq_agent.monitoring import (
    DASHBOARD_FILE,
    GRAFANA_DASHBOARD_LABELS,
    Monitoring,
    dashboard_json,
)
from pulumi_ip_masq_agent.scrape_targets import pod_monitor_spec, pod_monitoring_spec

API_VERSION = "monitoring.coreos.com/v1"
# GKE Managed Service for Prometheus: PodMonitoring for managed collection, Rules for its
# managed rule evaluator (both namespaced; a Rules' queries see only its own namespace's series).
GMP_API_VERSION = "monitoring.googleapis.com/v1"


def register_monitoring(
    name: str,
    *,
    monitoring: Monitoring,
    namespace: str,
    object_name: str,
    pod_labels: Mapping[str, str],
    labels: pulumi.Input[Mapping[str, pulumi.Input[str]]],
    resync_interval: pulumi.Input[str],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
) -> tuple[k8s.apiextensions.CustomResource, k8s.apiextensions.CustomResource]:
    """The object scraping the agent's pods and the one alerting on them, in their namespace.

    `podmonitor`: a PodMonitor and a PrometheusRule, whose `labels` are what the Prometheus'
    podMonitorSelector and ruleSelector match. `gmp`: a PodMonitoring and a Rules, which GMP
    picks up whatever their labels. The stale bound of the rules follows `resync_interval`, the
    same value the ConfigMap carries.
    """
    if monitoring is Monitoring.GMP:
        api_version, scrape_kind, rule_kind = GMP_API_VERSION, "PodMonitoring", "Rules"
        scrape_spec = pod_monitoring_spec(pod_labels)
        suffix = "podmonitoring"
    else:
        api_version, scrape_kind, rule_kind = API_VERSION, "PodMonitor", "PrometheusRule"
        scrape_spec = pod_monitor_spec(pod_labels, namespace=namespace)
        suffix = "podmonitor"
    metadata = k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels)
    scrape = k8s.apiextensions.CustomResource(
        f"{name}-{suffix}",
        api_version=api_version,
        kind=scrape_kind,
        metadata=metadata,
        spec=scrape_spec,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
    gmp = monitoring is Monitoring.GMP
    groups = pulumi.Output.from_input(resync_interval).apply(
        lambda text: rule_groups(parse_go_duration(text), evaluation_interval=gmp)
    )
    rule = k8s.apiextensions.CustomResource(
        f"{name}-rules",
        api_version=api_version,
        kind=rule_kind,
        metadata=metadata,
        spec={"groups": groups},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return scrape, rule


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
