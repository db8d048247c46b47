"""The GKE cluster: VPC-native Standard cluster with a node pool, or Autopilot; and a Kubernetes
provider for it."""

import json
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from pulumi_ip_masq_agent.gke_range_reader import cluster_ranges, field
from pulumi_ip_masq_agent.ip_masq_agent import Dataplane
from pulumi_ip_masq_agent.ranges import Range

DATAPATH: dict[Dataplane, str] = {
    Dataplane.LEGACY: "LEGACY_DATAPATH",
    Dataplane.V2: "ADVANCED_DATAPATH",
}


class GkeClusterArgs(TypedDict):
    """Inputs of the GkeCluster component."""

    cluster_name: pulumi.Input[str]
    """Name of the GKE cluster."""
    location: pulumi.Input[str]
    """Region of the (regional) cluster; the subnet's region."""
    network: pulumi.Input[str]
    """The VPC (id or self-link)."""
    subnetwork: pulumi.Input[str]
    """The subnet (id or self-link) whose secondary ranges the cluster uses."""
    pods_range_name: pulumi.Input[str]
    """Secondary range for pods."""
    services_range_name: pulumi.Input[str]
    """Secondary range for services."""
    additional_pod_range_names: pulumi.Input[Sequence[pulumi.Input[str]]]
    """More secondary ranges for pods (multi-pod-CIDR)."""
    dataplane: Dataplane
    """`legacy` (kube-proxy, our agent) or `v2` (GKE Dataplane V2; Autopilot needs it)."""
    enable_autopilot: NotRequired[bool]
    """GKE Autopilot (default false): GKE runs the nodes, Dataplane V2, no writes to kube-system;
    the IpMasqAgent for it takes platform gke-autopilot. Plain: it decides what is created."""
    dual_stack: bool
    """IPv4 and IPv6 pods and services."""
    private_nodes: bool
    """Nodes without external IPs."""
    control_plane_cidr: NotRequired[pulumi.Input[str]]
    """Private control plane /28."""
    machine_type: NotRequired[pulumi.Input[str]]
    """Node machine type (default e2-standard-2)."""
    nodes_per_zone: NotRequired[pulumi.Input[int]]
    """Nodes per zone of the region (default 1)."""


class GkeCluster(pulumi.ComponentResource):
    """A GKE Standard or Autopilot cluster on the given ranges, and a provider for it."""

    name: pulumi.Output[str]
    """Name of the GKE cluster."""
    control_plane_cidr: pulumi.Output[str | None]
    """The private control plane's /28, read back from the cluster."""
    ranges: pulumi.Output[list[Range]]
    """The cluster's own range for IpMasqAgent's `ranges` (its private control plane)."""
    provider: k8s.Provider
    """A Kubernetes provider for this cluster (ConfigMaps updated in place)."""

    def __init__(
        self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        autopilot = args.get("enable_autopilot", False)
        if not isinstance(autopilot, bool):
            raise TypeError(
                f"GkeCluster {name}: enable_autopilot must be a plain bool, not "
                f"{type(autopilot).__name__} (it decides which resources exist)"
            )
        dataplane = Dataplane(args["dataplane"])
        if autopilot and dataplane != Dataplane.V2:
            raise ValueError(
                f"GkeCluster {name}: dataplane {dataplane.value!r} with enable_autopilot "
                "(Autopilot clusters run GKE Dataplane V2: dataplane 'v2')"
            )
        super().__init__("ip-masq-agent:index:GkeCluster", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        additional = pulumi.Output.from_input(args["additional_pod_range_names"]).apply(
            lambda names: (
                gcp.container.ClusterIpAllocationPolicyAdditionalPodRangesConfigArgs(
                    pod_range_names=list(names)
                )
                if names
                else None
            )
        )
        cluster = gcp.container.Cluster(
            name,
            name=args["cluster_name"],
            location=args["location"],
            network=args["network"],
            subnetwork=args["subnetwork"],
            networking_mode="VPC_NATIVE",
            datapath_provider=DATAPATH[dataplane],
            enable_autopilot=autopilot or None,
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args["pods_range_name"],
                services_secondary_range_name=args["services_range_name"],
                additional_pod_ranges_config=additional,
                stack_type="IPV4_IPV6" if args["dual_stack"] else "IPV4",
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=args["private_nodes"],
                enable_private_endpoint=False,
                master_ipv4_cidr_block=args.get("control_plane_cidr"),
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel="REGULAR"),
            # The default pool cannot be shaped; a separate pool can be replaced on its own.
            # Autopilot manages its nodes itself and refuses both settings.
            remove_default_node_pool=None if autopilot else True,
            initial_node_count=None if autopilot else 1,
            opts=child,
        )
        if not autopilot:
            gcp.container.NodePool(
                f"{name}-nodes",
                cluster=cluster.name,
                location=args["location"],
                node_count=args.get("nodes_per_zone", 1),
                node_config=gcp.container.NodePoolNodeConfigArgs(
                    machine_type=args.get("machine_type", "e2-standard-2"),
                    oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                    shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                        enable_secure_boot=True
                    ),
                ),
                opts=child,
            )
        self.name = cluster.name
        # Read back from the cluster, so the list follows what is provisioned.
        self.control_plane_cidr = cluster.private_cluster_config.apply(
            lambda config: field(config, "master_ipv4_cidr_block")
        )
        self.ranges = cluster_ranges(cluster)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth).apply(
                lambda v: kubeconfig(v[0], v[1], v[2].cluster_ca_certificate)
            ),
            # Without this a CIDR change replaces the ConfigMap, leaving nodes briefly unconfigured.
            enable_config_map_mutable=True,
            opts=child,
        )
        self.register_outputs(
            {"name": self.name, "controlPlaneCidr": self.control_plane_cidr, "ranges": self.ranges}
        )


def kubeconfig(cluster_name: str, endpoint: str, ca_certificate: str | None) -> str:
    """A kubeconfig that authenticates through gke-gcloud-auth-plugin (no static credentials)."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": f"https://{endpoint}",
                    "certificate-authority-data": ca_certificate,
                },
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": "gke"}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": "gke",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "provideClusterInfo": True,
                        "installHint": "gcloud components install gke-gcloud-auth-plugin",
                    }
                },
            }
        ],
    }
    return json.dumps(document)
