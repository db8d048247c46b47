"""The GKE network: VPC and subnet with pod/service secondary ranges (or an adopted subnet), NAT."""

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from pulumi_ip_masq_agent.gke_range_reader import field, subnet_ranges
from pulumi_ip_masq_agent.ranges import Range, resource_origin


class SubnetRangeError(ValueError):
    """The adopted subnet lacks a range the config names; the message is one line."""


class GkeNetworkArgs(TypedDict):
    """Inputs of the GkeNetwork component: either the ranges to provision, or a subnet to adopt."""

    region: pulumi.Input[str]
    """GCP region of the subnet (for an adopted subnet: the region in its path)."""
    pods_range_name: pulumi.Input[str]
    """Name of the secondary range for pods."""
    services_range_name: pulumi.Input[str]
    """Name of the secondary range for services."""
    private_nodes: bool
    """Nodes without external IPs: add a Cloud Router and Cloud NAT (decides what is created)."""
    subnet_cidr: NotRequired[pulumi.Input[str]]
    """Primary (node) range of the subnet to create."""
    pods_cidr: NotRequired[pulumi.Input[str]]
    """Pod secondary range of the subnet to create."""
    services_cidr: NotRequired[pulumi.Input[str]]
    """Service secondary range of the subnet to create."""
    additional_pods_cidrs: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """More pod secondary ranges (named `<pods_range_name>-1`, `-2`, ...)."""
    ipv6_ula_range: NotRequired[pulumi.Input[str]]
    """Internal IPv6 /48 for the VPC; the subnet becomes dual-stack."""
    existing_subnet: NotRequired[pulumi.Input[str]]
    """`projects/P/regions/R/subnetworks/S` to adopt instead of creating a VPC and subnet."""
    project: NotRequired[pulumi.Input[str]]
    """Project of the adopted subnet."""
    subnet_name: NotRequired[pulumi.Input[str]]
    """Name of the adopted subnet."""


class GkeNetwork(pulumi.ComponentResource):
    """The VPC-native network a GKE cluster lives in, and its ranges as labelled Outputs."""

    network: pulumi.Output[str]
    """The VPC (id or self-link)."""
    subnetwork: pulumi.Output[str]
    """The subnet (id or self-link)."""
    ranges: pulumi.Output[list[Range]]
    """The subnet's ranges (and the VPC's internal IPv6 range), for IpMasqAgent's `ranges`."""
    additional_pod_range_names: pulumi.Output[list[str]]
    """Secondary ranges other than the pod and service ranges (multi-pod-CIDR)."""

    def __init__(
        self, name: str, args: GkeNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ip-masq-agent:index:GkeNetwork", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        if "existing_subnet" in args:
            self._adopt(name, args)
        else:
            self._provision(name, args, child)
        if args["private_nodes"]:
            router = gcp.compute.Router(
                f"{name}-router", region=args["region"], network=self.network, opts=child
            )
            gcp.compute.RouterNat(
                f"{name}-nat",
                router=router.name,
                region=args["region"],
                nat_ip_allocate_option="AUTO_ONLY",
                # Only our subnet: an adopted VPC may already NAT its other subnets.
                source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
                subnetworks=[
                    gcp.compute.RouterNatSubnetworkArgs(
                        name=self.subnetwork, source_ip_ranges_to_nats=["ALL_IP_RANGES"]
                    )
                ],
                log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
                opts=child,
            )
        self.register_outputs(
            {
                "network": self.network,
                "subnetwork": self.subnetwork,
                "ranges": self.ranges,
                "additionalPodRangeNames": self.additional_pod_range_names,
            }
        )

    def _provision(self, name: str, args: GkeNetworkArgs, child: pulumi.ResourceOptions) -> None:
        ula = args.get("ipv6_ula_range")
        network = gcp.compute.Network(
            f"{name}-vpc",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            enable_ula_internal_ipv6=ula is not None,
            internal_ipv6_range=ula,
            opts=child,
        )
        additional = pulumi.Output.all(
            pulumi.Output.from_input(args.get("additional_pods_cidrs", [])),
            args["pods_range_name"],
        ).apply(
            lambda v: [
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=f"{v[1]}-{i}", ip_cidr_range=cidr
                )
                for i, cidr in enumerate(v[0], start=1)
            ]
        )
        secondary = pulumi.Output.all(
            gcp.compute.SubnetworkSecondaryIpRangeArgs(
                range_name=args["pods_range_name"], ip_cidr_range=args["pods_cidr"]
            ),
            gcp.compute.SubnetworkSecondaryIpRangeArgs(
                range_name=args["services_range_name"], ip_cidr_range=args["services_cidr"]
            ),
            additional,
        ).apply(lambda v: [v[0], v[1], *v[2]])
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            region=args["region"],
            network=network.id,
            ip_cidr_range=args["subnet_cidr"],
            secondary_ip_ranges=secondary,
            private_ip_google_access=True,
            stack_type="IPV4_IPV6" if ula is not None else "IPV4_ONLY",
            ipv6_access_type="INTERNAL" if ula is not None else None,
            opts=child,
        )
        self.network = network.id
        self.subnetwork = subnet.id
        # Read back from the resources, so the list follows what is provisioned.
        origin = resource_origin(subnet)
        self.ranges = pulumi.Output.all(
            subnet.ip_cidr_range,
            subnet.secondary_ip_ranges,
            # Unset, the VPC's IPv6 range is computed and unknown until deployed: leave it out.
            network.internal_ipv6_range if ula is not None else None,
        ).apply(lambda v: subnet_ranges(origin, v[0], v[1], v[2]))
        self.additional_pod_range_names = additional.apply(
            lambda ranges: [field(r, "range_name") for r in ranges]
        )

    def _adopt(self, name: str, args: GkeNetworkArgs) -> None:
        # Parented like a child resource, so it reads through the component's gcp provider.
        subnet = gcp.compute.get_subnetwork_output(
            project=args.get("project"),
            region=args["region"],
            name=args.get("subnet_name"),
            opts=pulumi.InvokeOptions(parent=self),
        )
        where = pulumi.Output.from_input(args["existing_subnet"])
        adopted = pulumi.Output.all(
            where, subnet, args["pods_range_name"], args["services_range_name"]
        ).apply(
            lambda v: _adopted_ranges(
                f"GkeNetwork {name}", v[0], v[1], pods_name=v[2], services_name=v[3]
            )
        )
        self.network = subnet.network
        self.subnetwork = subnet.self_link
        self.ranges = adopted.apply(lambda a: a[0])
        self.additional_pod_range_names = adopted.apply(lambda a: a[1])


def _adopted_ranges(
    component: str, where: str, subnet: Any, *, pods_name: str, services_name: str
) -> tuple[list[Range], list[str]]:
    """Every range of the live subnet; the named pod and service ranges must exist."""
    secondary = field(subnet, "secondary_ip_ranges") or []
    names = [str(field(item, "range_name")) for item in secondary]
    for argument, wanted in (
        ("pods_range_name", pods_name),
        ("services_range_name", services_name),
    ):
        if wanted not in names:
            found = ", ".join(sorted(names)) or "none"
            raise SubnetRangeError(
                f"{component}: {argument}: {where} has no secondary range {wanted!r} "
                f"(it has: {found})"
            )
    ranges = subnet_ranges(f"subnet {where}", field(subnet, "ip_cidr_range"), secondary)
    # Any other secondary range of a GKE subnet holds pods (multi-pod-CIDR node pools).
    additional = sorted(set(names) - {pods_name, services_name})
    return ranges, additional
