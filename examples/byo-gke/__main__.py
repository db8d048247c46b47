"""A platform team's own GKE program, with ip-masq-agent added: the ranges come from the
program's own Subnetwork and Cluster, so the ConfigMap follows whatever they provision."""

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from pulumi_ip_masq_agent import (
    IpMasqAgent,
    IpMasqAgentArgs,
    Platform,
    Range,
    concat_ranges,
    gke_ranges,
)

config = pulumi.Config()
# One plain choice, made beside the cluster it must match: gke-standard, gke-managed-agent,
# gke-dataplane-v2 or gke-autopilot.
platform = Platform(config.get("platform") or "gke-standard")
autopilot = platform is Platform.GKE_AUTOPILOT
dataplane_v2 = platform in (Platform.GKE_DATAPLANE_V2, Platform.GKE_AUTOPILOT)

network = gcp.compute.Network("vpc", auto_create_subnetworks=False)
subnet = gcp.compute.Subnetwork(
    "gke",
    region="europe-west1",
    network=network.id,
    ip_cidr_range="10.30.0.0/22",
    secondary_ip_ranges=[
        gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="pods", ip_cidr_range="10.32.0.0/14"),
        gcp.compute.SubnetworkSecondaryIpRangeArgs(
            range_name="services", ip_cidr_range="10.30.16.0/20"
        ),
    ],
)
cluster = gcp.container.Cluster(
    "gke",
    location="europe-west1",
    network=network.id,
    subnetwork=subnet.id,
    networking_mode="VPC_NATIVE",
    enable_autopilot=autopilot or None,
    datapath_provider="ADVANCED_DATAPATH" if dataplane_v2 else "LEGACY_DATAPATH",
    ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
        cluster_secondary_range_name="pods", services_secondary_range_name="services"
    ),
    private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
        enable_private_nodes=True,
        enable_private_endpoint=False,
        master_ipv4_cidr_block="172.16.4.0/28",
    ),
    initial_node_count=None if autopilot else 1,
)
# Without enable_config_map_mutable a CIDR change replaces the ConfigMap (delete, then create):
# for that moment nodes have no config. Use your own kubeconfig for the cluster here.
provider = k8s.Provider("gke", enable_config_map_mutable=True)

args: IpMasqAgentArgs = {
    # The subnet's and cluster's ranges, plus one of your own (an on-prem network over VPN).
    "ranges": concat_ranges(
        gke_ranges(subnet, cluster), [Range(cidr="192.168.50.0/24", label="on-prem VPN")]
    ),
    "platform": platform,
}
if platform is Platform.GKE_STANDARD and (image := config.get("image")):
    args["image"] = image
agent = IpMasqAgent("ip-masq-agent", args, opts=pulumi.ResourceOptions(providers=[provider]))

pulumi.export("nonMasqueradeCidrs", agent.non_masquerade_cidrs)
pulumi.export("daemonSetName", agent.daemon_set_name)
pulumi.export("egressNatPolicyName", agent.egress_nat_policy_name)
