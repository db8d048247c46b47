"""The ranges a GKE subnet and cluster give pods, as typed Ranges: read from their resources'
Outputs, or from pulumi-gcp's lookups of them (one pure mapping for both)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pulumi
import pulumi_gcp as gcp

from pulumi_ip_masq_agent.pulumi_sdk import is_unknown
from pulumi_ip_masq_agent.ranges import Range, concat_ranges, resource_origin, secondary_range_label

T = TypeVar("T")

PRIMARY_LABEL = "primary range"
INTERNAL_IPV6_LABEL = "internal IPv6 range"
CONTROL_PLANE_LABEL = "control-plane range"


def field(item: Any, name: str) -> Any:
    """A field of a nested output: typed objects in real runs, dicts from mocks and invokes
    (the one place that difference is handled)."""
    if item is None:
        return None
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def subnet_ranges(
    origin: str, primary: str, secondary: Sequence[Any] | None, ipv6: str | None = None
) -> list[Range]:
    """The primary range, every secondary range in the subnet's order, and an IPv6 range."""
    ranges = [Range(cidr=primary, label=PRIMARY_LABEL, origin=origin)]
    for item in secondary or []:
        label = secondary_range_label(str(field(item, "range_name")))
        ranges.append(Range(cidr=field(item, "ip_cidr_range"), label=label, origin=origin))
    if ipv6:
        ranges.append(Range(cidr=ipv6, label=INTERNAL_IPV6_LABEL, origin=origin))
    return ranges


def has_internal_ipv6(stack_type: str | None, ipv6_access_type: str | None) -> bool:
    """A dual-stack subnet with internal IPv6 access: its internal IPv6 range is the pods'."""
    return stack_type == "IPV4_IPV6" and ipv6_access_type == "INTERNAL"


def control_plane_ranges(origin: str, private_cluster_config: Any) -> list[Range]:
    """A private cluster's control-plane /28 (none for a public cluster)."""
    cidr = field(private_cluster_config, "master_ipv4_cidr_block")
    return [Range(cidr=cidr, label=CONTROL_PLANE_LABEL, origin=origin)] if cidr else []


def looked_up_subnetwork_ranges(origin: str, subnetwork: Any) -> list[Range]:
    """The ranges of a `gcp.compute.get_subnetwork` result, as `subnetwork_ranges` reads them
    from a Subnetwork resource."""
    ipv6 = field(subnetwork, "internal_ipv6_prefix")
    dual = has_internal_ipv6(field(subnetwork, "stack_type"), field(subnetwork, "ipv6_access_type"))
    return subnet_ranges(
        origin,
        field(subnetwork, "ip_cidr_range"),
        field(subnetwork, "secondary_ip_ranges"),
        ipv6 if dual else None,
    )


def looked_up_cluster_ranges(origin: str, cluster: Any) -> list[Range]:
    """The ranges of a `gcp.container.get_cluster` result, as `cluster_ranges` reads them from
    a Cluster resource (the lookup lists the one private cluster config)."""
    configs = field(cluster, "private_cluster_configs") or [None]
    return control_plane_ranges(origin, configs[0])


def _when_set(
    output: pulumi.Output[Any], then: Callable[[Any], pulumi.Input[T]], unset: T
) -> pulumi.Output[T]:
    """`then(value)`, or `unset` while a preview cannot know the value because the program
    left that input unset (GCP then applies its default, which `unset` stands for)."""

    def choose(value: Any) -> pulumi.Input[T]:
        if is_unknown(value):
            return unset
        return output.apply(then)

    return output.apply(choose, run_with_unknowns=True)


def subnetwork_ranges(subnetwork: gcp.compute.Subnetwork) -> pulumi.Output[list[Range]]:
    """A Subnetwork's primary and secondary ranges, and its internal IPv6 range when the
    subnet is dual-stack with internal IPv6 access."""
    origin = resource_origin(subnetwork)
    # GCP's default stack type is IPV4_ONLY; a dual-stack subnet states its stack type.
    stack_type = _when_set(subnetwork.stack_type, str, "IPV4_ONLY")
    access_type = _when_set(subnetwork.ipv6_access_type, str, "")
    dual_stack = pulumi.Output.all(stack_type, access_type).apply(
        lambda v: has_internal_ipv6(v[0], v[1])
    )

    def prefix(on: bool) -> pulumi.Output[str | None]:
        # Computed by GCP: unknown in the first preview of a new dual-stack subnet.
        return subnetwork.internal_ipv6_prefix if on else pulumi.Output.from_input(None)

    ipv6: pulumi.Output[str | None] = dual_stack.apply(prefix)
    return pulumi.Output.all(subnetwork.ip_cidr_range, subnetwork.secondary_ip_ranges, ipv6).apply(
        lambda v: subnet_ranges(origin, v[0], v[1], v[2])
    )


def cluster_ranges(cluster: gcp.container.Cluster) -> pulumi.Output[list[Range]]:
    """A private cluster's control-plane /28 (none for a public cluster)."""
    origin = resource_origin(cluster)
    return _when_set(
        cluster.private_cluster_config, lambda config: control_plane_ranges(origin, config), []
    )


def gke_ranges(
    subnetwork: gcp.compute.Subnetwork, cluster: gcp.container.Cluster | None = None
) -> pulumi.Output[list[Range]]:
    """IpMasqAgent's `ranges` for a GKE cluster on this subnet: the subnet's primary range
    (nodes), every secondary range (pods, services), its internal IPv6 range when dual-stack,
    and, given the cluster, its private control-plane range."""
    groups = [subnetwork_ranges(subnetwork)]
    if cluster is not None:
        groups.append(cluster_ranges(cluster))
    return concat_ranges(*groups)
