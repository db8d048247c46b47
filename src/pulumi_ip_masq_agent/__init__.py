"""Pulumi components for ip-masq-agent: derive nonMasqueradeCIDRs from your network's own
resources and deploy the agent's ConfigMap and DaemonSet.

`IpMasqAgent` needs only Kubernetes; the GKE components (`GkeIpMasqAgent` among them) and
`gke_ranges` need the `[gcp]` extra (pulumi-gcp, pulumi-docker-build) and are imported on first
use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from pulumi_ip_masq_agent._version import __version__
from pulumi_ip_masq_agent.ip_masq_agent import (
    AgentPhase,
    Backend,
    Dataplane,
    IpMasqAgent,
    IpMasqAgentArgs,
)
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range, concat_ranges

if TYPE_CHECKING:
    from pulumi_ip_masq_agent.agent_image import AgentImage, AgentImageArgs
    from pulumi_ip_masq_agent.gke_cluster import GkeCluster, GkeClusterArgs
    from pulumi_ip_masq_agent.gke_ip_masq_agent import GkeIpMasqAgent, GkeIpMasqAgentArgs
    from pulumi_ip_masq_agent.gke_network import GkeNetwork, GkeNetworkArgs
    from pulumi_ip_masq_agent.gke_range_reader import gke_ranges

# Name -> module of the exports that import pulumi_gcp.
_GCP_EXPORTS = {
    "AgentImage": "agent_image",
    "AgentImageArgs": "agent_image",
    "GkeCluster": "gke_cluster",
    "GkeClusterArgs": "gke_cluster",
    "GkeIpMasqAgent": "gke_ip_masq_agent",
    "GkeIpMasqAgentArgs": "gke_ip_masq_agent",
    "GkeNetwork": "gke_network",
    "GkeNetworkArgs": "gke_network",
    "gke_ranges": "gke_range_reader",
}


def __getattr__(name: str) -> Any:
    module = _GCP_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as err:
        raise ImportError(
            f'pulumi_ip_masq_agent.{name} needs {err.name}: pip install "pulumi-ip-masq-agent[gcp]"'
        ) from err


__all__ = [
    "AgentImage",
    "AgentImageArgs",
    "AgentPhase",
    "Backend",
    "Dataplane",
    "GkeCluster",
    "GkeClusterArgs",
    "GkeIpMasqAgent",
    "GkeIpMasqAgentArgs",
    "GkeNetwork",
    "GkeNetworkArgs",
    "IpMasqAgent",
    "IpMasqAgentArgs",
    "Platform",
    "Range",
    "__version__",
    "concat_ranges",
    "gke_ranges",
]
