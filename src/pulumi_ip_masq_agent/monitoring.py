"""What Prometheus needs to watch the agent: how it is chosen (`monitoring`), the selector
labels, the Grafana dashboard; the rules are in alert_rules, the scrape specs in
scrape_targets. `python -m pulumi_ip_masq_agent.monitoring` prints the plain rules file."""

import re
from enum import StrEnum
from importlib import resources
from typing import Final

from pulumi_ip_masq_agent.alert_rules import rules_file_text


class Monitoring(StrEnum):
    """How Prometheus finds the agent (stack key `monitoring`, component arg `monitoring`)."""

    NONE = "none"
    """Nothing for Prometheus; /metrics stays on the node's loopback (the agent's default)."""
    PODMONITOR = "podmonitor"
    """A PodMonitor and a PrometheusRule (Prometheus Operator); /metrics on the node's address."""
    GMP = "gmp"
    """A PodMonitoring and a Rules (GKE Managed Service for Prometheus); /metrics on the node's
    address."""

    @property
    def scrapes(self) -> bool:
        """Whether something scrapes the agents, which then serve /metrics on the node's address."""
        return self is not Monitoring.NONE


# kube-prometheus-stack's Prometheus selects PodMonitors and PrometheusRules in every namespace
# whose label `release` is its Helm release name (podMonitorSelectorNilUsesHelmValues and
# ruleSelectorNilUsesHelmValues default to true); `kube-prometheus-stack` is the release name
# its own install instructions use.
DEFAULT_SELECTOR_LABELS: Final = {"release": "kube-prometheus-stack"}
# Kubernetes label syntax: an optional DNS-subdomain prefix and `/`, a name of up to 63
# characters; values up to 63 characters, possibly empty.
_LABEL_NAME: Final = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE: Final = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


# kube-prometheus-stack's Grafana sidecar loads dashboards from ConfigMaps labelled
# `grafana_dashboard: "1"` in every namespace (its sidecar.dashboards defaults).
GRAFANA_DASHBOARD_LABELS: Final = {"grafana_dashboard": "1"}
DASHBOARD_FILE: Final = "ip-masq-agent.json"


def dashboard_json() -> str:
    """The Grafana dashboard, as shipped in the package (dashboards/ip-masq-agent.json)."""
    return (resources.files(__package__) / "dashboards" / DASHBOARD_FILE).read_text()


def label_problem(name: str, value: str) -> str | None:
    """Why `name: value` is no Kubernetes label, or None when it is one."""
    if not _LABEL_NAME.fullmatch(name):
        return f"{name!r} is not a label name"
    if not _LABEL_VALUE.fullmatch(value):
        return f"{value!r} is not a label value"
    return None


def main() -> None:
    """Print the plain rules file (how monitoring/ip-masq-agent-rules.yaml is made)."""
    print(rules_file_text(), end="")


if __name__ == "__main__":
    main()
