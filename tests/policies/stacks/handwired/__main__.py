"""A user's own program wired by hand: the platform and the ranges are typed into config beside
the cluster instead of derived from it, so they can drift from it, which the pack must stop."""

import pulumi
import pulumi_gcp as gcp

from pulumi_ip_masq_agent import IpMasqAgent, IpMasqAgentArgs, Platform, Range

config = pulumi.Config()
autopilot = config.get_bool("autopilot") or False
platform = Platform(config.require("platform"))

network = gcp.compute.Network("vpc", auto_create_subnetworks=False)
subnet = gcp.compute.Subnetwork(
    "gke",
    region="europe-west1",
    network=network.id,
    ip_cidr_range="10.50.0.0/20",
    secondary_ip_ranges=[
        gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="pods", ip_cidr_range="10.52.0.0/16"),
        gcp.compute.SubnetworkSecondaryIpRangeArgs(
            range_name="pods-2", ip_cidr_range="10.56.0.0/16"
        ),
        gcp.compute.SubnetworkSecondaryIpRangeArgs(
            range_name="services", ip_cidr_range="10.51.0.0/20"
        ),
    ],
)
gcp.container.Cluster(
    "gke",
    name="handwired",
    location="europe-west1",
    network=network.id,
    subnetwork=subnet.id,
    networking_mode="VPC_NATIVE",
    enable_autopilot=autopilot or None,
    datapath_provider=config.require("datapath"),
    ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
        cluster_secondary_range_name="pods",
        services_secondary_range_name="services",
        additional_pod_ranges_config=gcp.container.ClusterIpAllocationPolicyAdditionalPodRangesConfigArgs(
            pod_range_names=["pods-2"]
        ),
    ),
    initial_node_count=None if autopilot else 1,
)
args: IpMasqAgentArgs = {
    "ranges": [
        Range(cidr=cidr, label=f"ranges[{i}]")
        for i, cidr in enumerate(config.require_object("ranges"))
    ],
    "platform": platform,
}
if platform is Platform.GKE_STANDARD:
    args["image"] = "registry.example/ip-masq-agent@sha256:" + "3" * 64
IpMasqAgent("ip-masq-agent", args)
