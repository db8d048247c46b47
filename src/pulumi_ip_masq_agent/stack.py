"""The repository's own program, composed from validated Settings: network, cluster and agent
image on GKE (or an existing cluster), then the IpMasqAgent on their ranges."""

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pulumi_ip_masq_agent.agent_image import AgentImage
from pulumi_ip_masq_agent.gke_cluster import GkeCluster, GkeClusterArgs
from pulumi_ip_masq_agent.gke_network import GkeNetwork, GkeNetworkArgs
from pulumi_ip_masq_agent.ip_masq_agent import (
    AgentPhase,
    Backend,
    Dataplane,
    IpMasqAgent,
    IpMasqAgentArgs,
)
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import concat_ranges
from pulumi_ip_masq_agent.settings import DEFAULTS, Settings


def build_stack(settings: Settings, *, agent_context: Path) -> dict[str, pulumi.Input[Any]]:
    """Register the stack's resources; the stack outputs to export. `agent_context` is the
    agent image's build context (agent_image/), built when no image is configured."""
    subnet = settings.existing_subnet
    region = subnet.region if subnet else settings.gcp_region

    if settings.cluster == "gke":
        assert region is not None  # read_settings requires gcp:region unless a subnet is adopted
        network_args: GkeNetworkArgs = {
            "region": region,
            "pods_range_name": settings.pods_range_name,
            "services_range_name": settings.services_range_name,
            "private_nodes": settings.private_nodes,
        }
        if subnet:
            network_args["existing_subnet"] = str(subnet)
            network_args["project"] = subnet.project
            network_args["subnet_name"] = subnet.name
        else:
            assert settings.subnet_cidr and settings.pods_cidr and settings.services_cidr
            network_args["subnet_cidr"] = settings.subnet_cidr
            network_args["pods_cidr"] = settings.pods_cidr
            network_args["services_cidr"] = settings.services_cidr
            network_args["additional_pods_cidrs"] = list(settings.additional_pods_cidrs)
            if settings.ipv6_ula_range:
                network_args["ipv6_ula_range"] = settings.ipv6_ula_range
        network = GkeNetwork("network", network_args)

        cluster_args: GkeClusterArgs = {
            "cluster_name": settings.cluster_name,
            "location": region,
            "network": network.network,
            "subnetwork": network.subnetwork,
            "pods_range_name": settings.pods_range_name,
            "services_range_name": settings.services_range_name,
            "additional_pod_range_names": network.additional_pod_range_names,
            "dataplane": Dataplane(settings.dataplane),
            "enable_autopilot": settings.autopilot,
            "dual_stack": settings.dual_stack,
            "private_nodes": settings.private_nodes,
        }
        if settings.control_plane_cidr:
            cluster_args["control_plane_cidr"] = settings.control_plane_cidr
        cluster = GkeCluster("cluster", cluster_args)

        provider = cluster.provider
        cluster_name: pulumi.Input[str] = cluster.name
        ranges = concat_ranges(network.ranges, cluster.ranges, settings.config_only_ranges())
    else:
        # The cluster of the current kubeconfig context; its ranges come from config.
        provider = k8s.Provider("existing", enable_config_map_mutable=True)
        cluster_name = settings.cluster_name or "(current kubeconfig context)"
        ranges = concat_ranges(settings.config_ranges())

    agent_args: IpMasqAgentArgs = {
        "ranges": ranges,
        "enable_ipv6": settings.dual_stack,
        "platform": settings.platform,
    }
    if settings.platform is not Platform.GKE_AUTOPILOT:
        # What the ConfigMap's readers act on; read_settings refuses these on Autopilot.
        agent_args |= {
            "masq_link_local": settings.masq_link_local,
            "masq_link_local_ipv6": settings.masq_link_local_ipv6,
            "resync_interval": settings.resync_interval,
            "backend": Backend(settings.agent_backend),
            "agent_phase": AgentPhase(settings.agent_phase),
            "monitoring": settings.monitoring,
            "monitoring_labels": settings.monitoring_label_map(),
            "grafana_dashboard": settings.grafana_dashboard,
            "force_masquerade_cidrs": list(settings.force_masquerade_cidrs),
        }
        # Left out for GKE's managed agent at the default: the component sets it to fit.
        if settings.platform is not Platform.GKE_MANAGED_AGENT or (
            settings.cidr_limit != DEFAULTS["cidrLimit"]
        ):
            agent_args["cidr_limit"] = settings.cidr_limit
    image: pulumi.Input[str] | None = settings.agent_image
    if settings.runs_daemon_set and image is None:
        assert region is not None  # read_settings requires image off GKE
        image = AgentImage(
            "agent-image",
            {
                "location": region,
                "context": str(agent_context),
                "dockerfile": str(agent_context / "Dockerfile"),
            },
        ).ref
    if image is not None:
        agent_args["image"] = image
    agent = IpMasqAgent(
        "ip-masq-agent", agent_args, opts=pulumi.ResourceOptions(providers=[provider])
    )
    return {
        "nonMasqueradeCidrs": agent.non_masquerade_cidrs,
        "configMapName": agent.config_map_name,
        "daemonSetName": agent.daemon_set_name,
        "egressNatPolicyName": agent.egress_nat_policy_name,
        "platform": settings.platform.value,
        "agentImage": image,
        "clusterName": cluster_name,
    }
