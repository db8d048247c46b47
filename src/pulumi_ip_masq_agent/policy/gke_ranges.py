"""The pod and services ranges a stack's GKE clusters and subnets route back to pods."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from pulumi_policy.proxy import UnknownValueError

from ip_masq_agent.prefixes import Prefix
from pulumi_ip_masq_agent.cidrs import read_network, uncovered
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.policy.props import as_list, as_mapping, as_text, dig, last_segment
from pulumi_ip_masq_agent.ranges import Range, describe, secondary_range_label

SUBNETWORK: Final = "gcp:compute/subnetwork:Subnetwork"
CLUSTER: Final = "gcp:container/cluster:Cluster"
NODE_POOL: Final = "gcp:container/nodePool:NodePool"
NETWORK: Final = "gcp:compute/network:Network"
T = TypeVar("T")


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


@dataclass
class _Subnet:
    resource: StackResource
    label: str
    keys: frozenset[str]
    secondary: dict[str, str]
    pending: frozenset[str]  # named secondary ranges whose CIDR is unknown in this preview
    used: bool = False


def _keys(resource: StackResource) -> frozenset[str]:
    """Every way another resource may refer to this one: name, id or self link."""
    keys = {resource.name}
    for key in ("name", "id", "selfLink"):
        with suppress(UnknownValueError):
            text = as_text(resource.props.get(key))
            if text:
                keys.add(last_segment(text))
    return frozenset(keys)


def _subnet(resource: StackResource, unknowns: PreviewUnknowns) -> _Subnet:
    props = resource.props
    secondary: dict[str, str] = {}
    pending: set[str] = set()
    for raw in as_list(props.get("secondaryIpRanges")):
        entry = as_mapping(raw)
        range_name: str | None = None
        cidr_known = False
        # Entry by entry: one range unknown in preview must not hide the gaps of known ones.
        with unknowns.guard(f"{resource.name}."):
            range_name = as_text(entry.get("rangeName"))
            cidr = as_text(entry.get("ipCidrRange"))
            cidr_known = True
            if range_name and cidr:
                secondary[range_name] = cidr
        if range_name and not cidr_known:
            pending.add(range_name)
    label = f"subnet {resource.name!r}"
    with suppress(UnknownValueError):
        label = f"subnet {as_text(props.get('name')) or resource.name!r}"
    return _Subnet(resource, label, _keys(resource), secondary, frozenset(pending))


def _pick(
    candidates: Sequence[T], keys: Callable[[T], frozenset[str]], props: Mapping[str, Any], key: str
) -> T | None:
    """The candidate `props[key]` refers to; None when it refers to nothing in the stack."""
    try:
        reference = as_text(props.get(key))
    except UnknownValueError:
        # Unknown in preview means it is an output of a resource created in this update: with
        # one candidate in the stack that is the one; with several, the check must wait.
        if len(candidates) == 1:
            return candidates[0]
        raise
    if reference is None:
        return None
    wanted = last_segment(reference)
    return next((item for item in candidates if wanted in keys(item)), None)


class _Collector:
    def __init__(self, unknowns: PreviewUnknowns) -> None:
        self.unknowns = unknowns
        self.ranges: list[Range] = []

    def text(self, props: Mapping[str, Any], key: str, resource: StackResource) -> str | None:
        """`props[key]` as text; unknown in preview, it is recorded and the other fields of the
        resource are still checked (an unknown field must not hide a known gap)."""
        with self.unknowns.guard(f"{resource.name}."):
            return as_text(props.get(key))
        return None

    def cidr(self, text: str | None, origin: str, *, label: str | None = None) -> None:
        """Record `text` as a required range; named in messages by `label` of `origin`, or by
        `origin` alone."""
        if text is None:
            return
        # A bare "/14" (size only, GCP picks the range) is only known after deployment.
        network = read_network(text)
        required = Range(cidr=text if network is None else str(network), label=label or origin)
        if label:
            required["origin"] = origin
        if network is None:
            self.unknowns.note(f"{describe(required)} ({text!r}, chosen by GCP)")
        else:
            self.ranges.append(required)

    def named(self, subnet: _Subnet | None, range_name: str | None, origin: str) -> None:
        if range_name is None:
            return
        if subnet is None:
            self.unknowns.note(
                f"{origin}: secondary range {range_name!r} of a subnet outside the stack"
            )
        elif range_name in subnet.pending:
            return  # its unknown CIDR is already recorded where it was read
        elif range_name not in subnet.secondary:
            self.unknowns.note(f"{origin}: secondary range {range_name!r} not on {subnet.label}")
        else:
            self.cidr(
                subnet.secondary[range_name],
                f"{origin} (secondary range {range_name!r} of {subnet.label})",
            )


def _node_pool_ranges(
    collect: _Collector, network_config: Any, subnet: _Subnet | None, origin: str
) -> None:
    config = as_mapping(network_config)
    collect.named(subnet, as_text(config.get("podRange")), f"pod range of {origin}")
    collect.cidr(as_text(config.get("podIpv4CidrBlock")), f"pod range of {origin}")


def _cluster_ranges(
    collect: _Collector,
    resource: StackResource,
    subnet: _Subnet | None,
    networks: Sequence[StackResource],
) -> None:
    props = resource.props
    cluster = f"cluster {resource.name!r}"
    with suppress(UnknownValueError):
        cluster = f"cluster {as_text(props.get('name')) or resource.name!r}"
    policy = as_mapping(props.get("ipAllocationPolicy"))
    sources = (
        ("pod range", ("clusterSecondaryRangeName",), ("clusterIpv4CidrBlock",)),
        ("services range", ("servicesSecondaryRangeName",), ("servicesIpv4CidrBlock",)),
    )
    for what, named, blocks in sources:
        origin = f"{what} of {cluster}"
        names = [collect.text(policy, key, resource) for key in named]
        cidrs = [collect.text(policy, key, resource) for key in blocks]
        if what == "pod range":
            cidrs.append(collect.text(props, "clusterIpv4Cidr", resource))  # routes-based
        for range_name in names:
            collect.named(subnet, range_name, origin)
        for cidr in cidrs:
            collect.cidr(cidr, origin)
        if not any(names) and not any(cidrs):
            # Nothing set: GKE picks the range at creation; never a silent pass.
            collect.unknowns.note(f"{origin} (chosen by GKE at creation)")
    for name in as_list(dig(policy, "additionalPodRangesConfig", "podRangeNames")):
        collect.named(subnet, as_text(name), f"additional pod range of {cluster}")
    for raw in as_list(props.get("nodePools")):
        pool = as_mapping(raw)
        label = f"node pool {as_text(pool.get('name')) or '?'} of {cluster}"
        _node_pool_ranges(collect, pool.get("networkConfig"), subnet, label)
    if policy.get("stackType") == "IPV4_IPV6":
        _ipv6_range(collect, subnet, networks, cluster)


def _ipv6_range(
    collect: _Collector, subnet: _Subnet | None, networks: Sequence[StackResource], cluster: str
) -> None:
    # Dual-stack pods take IPv6 addresses from the subnet's range, which GCP assigns from the
    # VPC's internal range; before creation only the VPC's range (if set) bounds it.
    origin = f"IPv6 pod range of {cluster}"
    if subnet is not None:
        for key in ("ipv6CidrRange", "internalIpv6Prefix", "externalIpv6Prefix"):
            text = as_text(subnet.resource.props.get(key))
            if text:
                collect.cidr(text, f"{origin} ({subnet.label} {key})")
                return
        network = _pick(networks, _keys, subnet.resource.props, "network")
        ula = as_text(network.props.get("internalIpv6Range")) if network else None
        if network is not None and ula:
            collect.cidr(ula, f"{origin} (internalIpv6Range of VPC {network.name!r})")
            return
    collect.unknowns.note(f"{origin} (assigned by GCP at creation)")


def required_ranges(resources: Sequence[StackResource], unknowns: PreviewUnknowns) -> list[Range]:
    """Pod, additional pod, node-pool pod and services ranges of every cluster, plus every
    secondary range of subnets no cluster in the stack uses (they exist for pods/services)."""
    collect = _Collector(unknowns)
    subnets: list[_Subnet] = []
    for resource in resources:
        if resource.resource_type == SUBNETWORK:
            with unknowns.guard(f"{resource.name}."):
                subnets.append(_subnet(resource, unknowns))
    networks = list(_of_type(resources, NETWORK))
    clusters: list[tuple[StackResource, _Subnet | None]] = []
    for resource in _of_type(resources, CLUSTER):
        with unknowns.guard(f"{resource.name}."):
            subnet = _pick(subnets, lambda s: s.keys, resource.props, "subnetwork")
            if subnet is None and len(subnets) == 1 and "subnetwork" not in resource.props:
                subnet = subnets[0]  # none given: GKE takes the network's (only) subnet
            if subnet is not None:
                subnet.used = True
            clusters.append((resource, subnet))
            _cluster_ranges(collect, resource, subnet, networks)
    for resource in _of_type(resources, NODE_POOL):
        with unknowns.guard(f"{resource.name}."):
            label = f"node pool {as_text(resource.props.get('name')) or resource.name!r}"
            found = _pick(clusters, lambda c: _keys(c[0]), resource.props, "cluster")
            network_config = resource.props.get("networkConfig")
            if found is None and as_mapping(network_config).get("podRange"):
                reference = resource.props.get("cluster")
                unknowns.note(f"{label}: cluster {reference!r} is outside the stack")
                continue
            _node_pool_ranges(collect, network_config, found[1] if found else None, label)
    for subnet in subnets:
        if not subnet.used:
            for range_name, cidr in subnet.secondary.items():
                collect.cidr(cidr, subnet.label, label=secondary_range_label(range_name))
    return collect.ranges


def _of_type(resources: Sequence[StackResource], resource_type: str) -> Iterator[StackResource]:
    return (resource for resource in resources if resource.resource_type == resource_type)


@dataclass(frozen=True)
class Coverage:
    """A required range as read, and the parts of it a list of CIDRs leaves out."""

    required: Range
    cidr: Prefix
    missing: tuple[Prefix, ...]

    def gap(self) -> str:
        """`pods range 10.8.0.0/14 (uncovered: 10.10.0.0/15)`: what a violation names."""
        parts = ", ".join(map(str, self.missing))
        return f"{describe(self.required)} {self.cidr} (uncovered: {parts})"


def coverage(ranges: Sequence[Range], covering: Sequence[Prefix]) -> Iterator[Coverage]:
    """Each required range `covering` is judged against (required_ranges holds only readable
    ones; a range no CIDR parser reads is skipped, not guessed)."""
    for required in ranges:
        cidr = read_network(str(required["cidr"]))
        if cidr is not None:
            yield Coverage(required, cidr, tuple(uncovered(cidr, covering)))
