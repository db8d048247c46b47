"""How Prometheus scrapes the agent: the named metrics port on the node's address, and the
PodMonitor's and PodMonitoring's specs."""

import math
from collections.abc import Mapping
from typing import Any, Final

from ip_masq_agent.contract import AGENT_NAME, METRICS_PATH, METRICS_PORT

# The named container port the PodMonitor scrapes (the DaemonSet declares it only then), on
# the agent's own metrics port; the node's address comes from the downward API (status.hostIP:
# the pod is hostNetwork, so that is where it listens), expanded by kubelet in the args.
METRICS_PORT_NAME: Final = "metrics"
NODE_IP_ENV: Final = "NODE_IP"
NODE_METRICS_ADDRESS: Final = f"$({NODE_IP_ENV}):{METRICS_PORT}"
# The PodMonitor's scrape interval; the stale bound of the alert rules counts it.
SCRAPE_INTERVAL_SECONDS: Final = 30
# The agent's container in the DaemonSet: scraping the named port gives every target this
# `container` label, under the Operator's PodMonitor and GMP's PodMonitoring alike.
AGENT_CONTAINER: Final = AGENT_NAME


def prometheus_duration(seconds: float) -> str:
    """Whole seconds in Prometheus' duration syntax: 240 -> `4m`, 3660 -> `1h1m`, 0 -> `0s`."""
    remaining = math.ceil(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def pod_monitor_spec(pod_labels: Mapping[str, str], *, namespace: str) -> dict[str, Any]:
    """Scrape the named metrics port of the pods matching `pod_labels`, in their namespace only.

    The node's name becomes the `node` label: the agent is one per node, and a node is what
    an operator looks for. `pod` (and `namespace`, `instance`) the Operator adds itself.
    """
    return {
        "selector": {"matchLabels": dict(pod_labels)},
        "namespaceSelector": {"matchNames": [namespace]},
        "podMetricsEndpoints": [
            {
                "port": METRICS_PORT_NAME,
                "path": METRICS_PATH,
                "interval": prometheus_duration(SCRAPE_INTERVAL_SECONDS),
                "relabelings": [
                    {
                        "action": "replace",
                        "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                        "targetLabel": "node",
                    }
                ],
            }
        ],
    }


# GMP's managed collection sets the node's name as `node` only when asked; the other names are
# its defaults (`container` is filled because the port is named), kept as they are.
GMP_TARGET_METADATA: Final = (
    "container",
    "node",
    "pod",
    "top_level_controller_name",
    "top_level_controller_type",
)


def pod_monitoring_spec(pod_labels: Mapping[str, str]) -> dict[str, Any]:
    """GMP's PodMonitoring: the same pods, port, path and interval as the PodMonitor.

    A PodMonitoring only ever selects pods of its own namespace; GMP sets `namespace`, `job`
    (the PodMonitoring's name) and, the pods being a DaemonSet's, `instance` as
    `<node name>:<port>` itself; `node` comes from targetLabels.metadata (its metricRelabeling
    may not set target labels).
    """
    return {
        "selector": {"matchLabels": dict(pod_labels)},
        "endpoints": [
            {
                "port": METRICS_PORT_NAME,
                "path": METRICS_PATH,
                "interval": prometheus_duration(SCRAPE_INTERVAL_SECONDS),
            }
        ],
        "targetLabels": {"metadata": list(GMP_TARGET_METADATA)},
    }
