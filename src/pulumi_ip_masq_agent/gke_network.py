"""The GKE network: VPC and subnet with pod/service secondary ranges (or an adopted subnet), NAT."""

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp


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
    subnetwork: pulumi.Output[str]
    ranges: pulumi.Output[dict[str, str]]
    additional_pod_range_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: GkeNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ip-masq-agent:index:GkeNetwork", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        if "existing_subnet" in args:
            self._adopt(args)
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
        self.ranges = pulumi.Output.all(
            subnet.ip_cidr_range,
            subnet.secondary_ip_ranges,
            args["pods_range_name"],
            args["services_range_name"],
            # Unset, the VPC's IPv6 range is computed and unknown until deployed: leave it out.
            network.internal_ipv6_range if ula is not None else None,
        ).apply(lambda v: _provisioned_ranges(v[0], v[1], v[2], v[3], v[4]))
        self.additional_pod_range_names = additional.apply(
            lambda ranges: [_field(r, "range_name") for r in ranges]
        )

    def _adopt(self, args: GkeNetworkArgs) -> None:
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
        ).apply(lambda v: _adopted_ranges(v[0], v[1], pods_name=v[2], services_name=v[3]))
        self.network = subnet.network
        self.subnetwork = subnet.self_link
        self.ranges = adopted.apply(lambda a: a[0])
        self.additional_pod_range_names = adopted.apply(lambda a: a[1])


def _field(item: Any, name: str) -> Any:
    # Outputs of nested types arrive as typed objects or, from mocks and invokes, as dicts.
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def _provisioned_ranges(
    primary: str,
    secondary: Sequence[Any],
    pods_name: str,
    services_name: str,
    ula: str | None,
) -> dict[str, str]:
    ranges = {"ip-masq-agent:subnetCidr": primary}
    additional = 0
    for item in secondary:
        range_name, cidr = _field(item, "range_name"), _field(item, "ip_cidr_range")
        if range_name == pods_name:
            ranges["ip-masq-agent:podsCidr"] = cidr
        elif range_name == services_name:
            ranges["ip-masq-agent:servicesCidr"] = cidr
        else:
            ranges[f"ip-masq-agent:additionalPodsCidrs[{additional}]"] = cidr
            additional += 1
    if ula:
        ranges["ip-masq-agent:ipv6UlaRange"] = ula
    return ranges


def _adopted_ranges(
    where: str, subnet: Any, *, pods_name: str, services_name: str
) -> tuple[dict[str, str], list[str]]:
    """Every range of the live subnet; the named pod and service ranges must exist."""
    label = f"ip-masq-agent:existingSubnet {where}"
    ranges = {f"{label} primary range": _field(subnet, "ip_cidr_range")}
    secondary = {
        _field(item, "range_name"): _field(item, "ip_cidr_range")
        for item in _field(subnet, "secondary_ip_ranges") or []
    }
    for key, wanted in (("podsRangeName", pods_name), ("servicesRangeName", services_name)):
        if wanted not in secondary:
            found = ", ".join(sorted(secondary)) or "none"
            raise SubnetRangeError(
                f"ip-masq-agent:{key}: {where} has no secondary range {wanted!r} (it has: {found})"
            )
    # Any other secondary range of a GKE subnet holds pods (multi-pod-CIDR node pools).
    additional = sorted(set(secondary) - {pods_name, services_name})
    for range_name in [pods_name, services_name, *additional]:
        ranges[f"{label} secondary range {range_name!r}"] = secondary[range_name]
    return ranges, additional
