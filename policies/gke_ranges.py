"""The pod and services ranges a stack's GKE clusters and subnets route back to pods."""

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from policies.preview_unknowns import PreviewUnknowns
from policies.props import as_list, as_mapping, as_text, dig, last_segment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SUBNETWORK: Final = "gcp:compute/subnetwork:Subnetwork"
CLUSTER: Final = "gcp:container/cluster:Cluster"
NODE_POOL: Final = "gcp:container/nodePool:NodePool"


class StackResource(Protocol):
    """What a stack policy sees of a resource (pulumi_policy.PolicyResource fits)."""

    @property
    def resource_type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urn(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class RequiredRange:
    """A range pods must reach without SNAT, and where it comes from (for messages)."""

    cidr: Network
    origin: str


@dataclass
class _Subnet:
    resource: StackResource
    label: str
    keys: frozenset[str]
    secondary: dict[str, str]
    used: bool = False


def _subnet(resource: StackResource) -> _Subnet:
    props = resource.props
    name = as_text(props.get("name"))
    secondary: dict[str, str] = {}
    for raw in as_list(props.get("secondaryIpRanges")):
        entry = as_mapping(raw)
        range_name, cidr = as_text(entry.get("rangeName")), as_text(entry.get("ipCidrRange"))
        if range_name and cidr:
            secondary[range_name] = cidr
    keys = {resource.name} | ({name} if name else set())
    return _Subnet(resource, f"subnet {name or resource.name!r}", frozenset(keys), secondary)


def _cidr(text: str) -> Network | None:
    # GKE also takes a bare "/14" (size only, GCP picks the range): only known after deployment.
    try:
        return ipaddress.ip_network(text, strict=False) if not text.startswith("/") else None
    except ValueError:
        return None


class _Collector:
    def __init__(self, unknowns: PreviewUnknowns) -> None:
        self.unknowns = unknowns
        self.ranges: list[RequiredRange] = []

    def cidr(self, text: str | None, origin: str) -> None:
        if text is None:
            return
        network = _cidr(text)
        if network is None:
            self.unknowns.note(f"{origin} ({text!r}, chosen by GCP)")
        else:
            self.ranges.append(RequiredRange(network, origin))

    def named(self, subnet: _Subnet | None, range_name: str | None, origin: str) -> None:
        if range_name is None:
            return
        if subnet is None:
            self.unknowns.note(
                f"{origin}: secondary range {range_name!r} of a subnet outside the stack"
            )
        elif range_name not in subnet.secondary:
            self.unknowns.note(f"{origin}: secondary range {range_name!r} not on {subnet.label}")
        else:
            self.cidr(
                subnet.secondary[range_name],
                f"{origin} (secondary range {range_name!r} of {subnet.label})",
            )


def _find(items: Sequence[_Subnet], reference: Any) -> _Subnet | None:
    text = as_text(reference)
    if text is None:
        return None
    key = last_segment(text)
    return next((item for item in items if key in item.keys), None)


def _node_pool_ranges(
    collect: _Collector, network_config: Any, subnet: _Subnet | None, origin: str
) -> None:
    config = as_mapping(network_config)
    collect.named(subnet, as_text(config.get("podRange")), f"pod range of {origin}")
    collect.cidr(as_text(config.get("podIpv4CidrBlock")), f"pod range of {origin}")


def _cluster_ranges(collect: _Collector, resource: StackResource, subnet: _Subnet | None) -> None:
    props = resource.props
    cluster = f"cluster {as_text(props.get('name')) or resource.name!r}"
    policy = as_mapping(props.get("ipAllocationPolicy"))
    collect.named(
        subnet, as_text(policy.get("clusterSecondaryRangeName")), f"pod range of {cluster}"
    )
    collect.cidr(as_text(policy.get("clusterIpv4CidrBlock")), f"pod range of {cluster}")
    collect.cidr(as_text(props.get("clusterIpv4Cidr")), f"pod range of {cluster}")
    collect.named(
        subnet, as_text(policy.get("servicesSecondaryRangeName")), f"services range of {cluster}"
    )
    collect.cidr(as_text(policy.get("servicesIpv4CidrBlock")), f"services range of {cluster}")
    for name in as_list(dig(policy, "additionalPodRangesConfig", "podRangeNames")):
        collect.named(subnet, as_text(name), f"additional pod range of {cluster}")
    for raw in as_list(props.get("nodePools")):
        pool = as_mapping(raw)
        label = f"node pool {as_text(pool.get('name')) or '?'} of {cluster}"
        _node_pool_ranges(collect, pool.get("networkConfig"), subnet, label)
    if policy.get("stackType") == "IPV4_IPV6":
        _ipv6_range(collect, subnet, cluster)


def _ipv6_range(collect: _Collector, subnet: _Subnet | None, cluster: str) -> None:
    # Dual-stack pods take their IPv6 addresses from the subnet's IPv6 range, which GCP assigns.
    origin = f"IPv6 pod range of {cluster}"
    props = subnet.resource.props if subnet else {}
    for key in ("ipv6CidrRange", "internalIpv6Prefix", "externalIpv6Prefix"):
        text = as_text(props.get(key))
        if text:
            collect.cidr(text, f"{origin} ({subnet.label if subnet else '?'} {key})")
            return
    collect.unknowns.note(f"{origin} (assigned by GCP at creation)")


def required_ranges(
    resources: Sequence[StackResource], unknowns: PreviewUnknowns
) -> list[RequiredRange]:
    """Pod, additional pod, node-pool pod and services ranges of every cluster, plus every
    secondary range of subnets no cluster in the stack uses (they exist for pods/services)."""
    collect = _Collector(unknowns)
    subnets: list[_Subnet] = []
    for resource in resources:
        if resource.resource_type == SUBNETWORK:
            with unknowns.guard(f"{resource.name}."):
                subnets.append(_subnet(resource))
    clusters: dict[str, _Subnet | None] = {}
    cluster_keys: dict[str, str] = {}
    for resource in _of_type(resources, CLUSTER):
        with unknowns.guard(f"{resource.name}."):
            subnet = _find(subnets, resource.props.get("subnetwork"))
            if subnet is None and len(subnets) == 1 and resource.props.get("subnetwork") is None:
                subnet = subnets[0]  # no subnetwork given: GKE uses the network's only subnet
            if subnet is not None:
                subnet.used = True
            clusters[resource.urn] = subnet
            name = as_text(resource.props.get("name"))
            cluster_keys[resource.name] = resource.urn
            if name:
                cluster_keys[name] = resource.urn
            _cluster_ranges(collect, resource, subnet)
    for resource in _of_type(resources, NODE_POOL):
        with unknowns.guard(f"{resource.name}."):
            reference = as_text(resource.props.get("cluster"))
            urn = cluster_keys.get(last_segment(reference)) if reference else None
            label = f"node pool {as_text(resource.props.get('name')) or resource.name!r}"
            network_config = resource.props.get("networkConfig")
            if urn is None and as_mapping(network_config).get("podRange"):
                unknowns.note(f"{label}: cluster {reference!r} is outside the stack")
                continue
            _node_pool_ranges(collect, network_config, clusters.get(urn or ""), label)
    for subnet in subnets:
        if not subnet.used:
            for range_name, cidr in subnet.secondary.items():
                collect.cidr(cidr, f"secondary range {range_name!r} of {subnet.label}")
    return collect.ranges


def _of_type(resources: Sequence[StackResource], resource_type: str) -> Iterator[StackResource]:
    return (resource for resource in resources if resource.resource_type == resource_type)
