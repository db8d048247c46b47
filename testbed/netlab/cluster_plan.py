"""Addresses of the sandbox cluster, planned from a stack's ranges: pure, no namespace touched."""

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Outcome = Literal["kept", "masqueraded"]

LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")
METADATA = ipaddress.IPv4Address("169.254.169.254")  # the link-local address pods really use
# Documentation and benchmarking ranges: never routed on the internet, so safe stand-ins for
# "outside every range". The first free ones hold the internet host and the live-change peer.
OUTSIDE_CANDIDATES4 = tuple(
    ipaddress.IPv4Network(c)
    for c in ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24", "198.18.0.0/24", "198.19.0.0/24")
)
OUTSIDE_CANDIDATES6 = tuple(
    ipaddress.IPv6Network(c) for c in ("2001:db8:0:1::/64", "2001:db8:0:2::/64", "2001:db8:9::/64")
)


class PlanError(ValueError):
    """The stack's ranges cannot hold the sandbox; the message names the range."""


@dataclass(frozen=True)
class StackRanges:
    """The ranges a stack declares (config or derived): what the sandbox is built from."""

    nodes: ipaddress.IPv4Network  # the subnet's primary range
    pods: ipaddress.IPv4Network
    services: ipaddress.IPv4Network | None = None
    control_plane: ipaddress.IPv4Network | None = None
    additional_pods: tuple[ipaddress.IPv4Network, ...] = ()
    extras: tuple[Network, ...] = ()
    ula6: ipaddress.IPv6Network | None = None  # set for a dual-stack stack
    masq_link_local: bool = False

    @property
    def dual_stack(self) -> bool:
        return self.ula6 is not None

    def all_ranges(self) -> list[Network]:
        """Every range the stack says to keep, plus link-local (kept or not, never 'outside')."""
        ranges: list[Network] = [self.nodes, self.pods, LINK_LOCAL, *self.additional_pods]
        ranges += self.extras
        ranges += [r for r in (self.services, self.control_plane, self.ula6) if r is not None]
        return ranges


@dataclass(frozen=True)
class PodPlan:
    name: str
    node: str
    ip4: ipaddress.IPv4Address
    ip6: ipaddress.IPv6Address | None


@dataclass(frozen=True)
class NodePlan:
    name: str
    ip4: ipaddress.IPv4Address  # masqueraded traffic carries this
    ip6: ipaddress.IPv6Address | None
    pod_slice4: ipaddress.IPv4Network  # routed to this node by the VPC (alias-IP style)
    pod_slice6: ipaddress.IPv6Network | None
    pod_gateway4: ipaddress.IPv4Address  # the node's side of every pod veth
    pod_gateway6: ipaddress.IPv6Address | None
    pods: tuple[PodPlan, ...]


@dataclass(frozen=True)
class Destination:
    """A fixed host the pods probe; `host` is the namespace role that owns the address."""

    name: str
    address: Address
    host: str  # "world" or "vpchost"
    kept: bool  # whether the stack's ranges say the pod's own address must arrive

    def expected(self) -> Outcome:
        return "kept" if self.kept else "masqueraded"


@dataclass(frozen=True)
class ClusterPlan:
    ranges: StackRanges
    gateway4: ipaddress.IPv4Address  # the VPC router on the node subnet
    gateway6: ipaddress.IPv6Address | None
    node_net6: ipaddress.IPv6Network | None
    nodes: tuple[NodePlan, ...]
    vpchost4: ipaddress.IPv4Address
    vpchost6: ipaddress.IPv6Address | None
    world_net4: ipaddress.IPv4Network  # router <-> world link; the internet host lives in it
    world_net6: ipaddress.IPv6Network | None
    destinations: tuple[Destination, ...]
    new_peer: ipaddress.IPv4Network  # outside every range now; the live change adds it

    @property
    def pods(self) -> tuple[PodPlan, ...]:
        return tuple(pod for node in self.nodes for pod in node.pods)

    def node_of(self, pod: PodPlan) -> NodePlan:
        return next(n for n in self.nodes if n.name == pod.node)

    def world_router4(self) -> ipaddress.IPv4Address:
        return self.world_net4[1]

    def world_router6(self) -> ipaddress.IPv6Address | None:
        return None if self.world_net6 is None else self.world_net6[1]

    def destination(self, name: str) -> Destination:
        return next(d for d in self.destinations if d.name == name)


@dataclass(frozen=True)
class Probe:
    """One row of the demo table: a pod asks a destination which source it saw."""

    source: PodPlan
    target: str  # destination name, or "pod <name>" for pod-to-pod
    address: Address
    proto: str
    expected_source: Address

    @property
    def expected(self) -> Outcome:
        pod_ip = self.source.ip4 if self.address.version == 4 else self.source.ip6
        return "kept" if self.expected_source == pod_ip else "masqueraded"


def _overlaps(network: Network, ranges: Iterable[Network]) -> bool:
    return any(network.version == r.version and network.overlaps(r) for r in ranges)


N = TypeVar("N", ipaddress.IPv4Network, ipaddress.IPv6Network)


def _free(candidates: Sequence[N], taken: Sequence[Network], count: int) -> list[N]:
    free = [c for c in candidates if not _overlaps(c, taken)]
    if len(free) < count:
        raise PlanError(
            "the stack's ranges cover every documentation range the sandbox uses for "
            f"outside hosts ({', '.join(str(c) for c in candidates)})"
        )
    return free[:count]


def _host(network: Network, index: int, what: str) -> Address:
    """The index-th address of a range (negative counts from the end), or PlanError."""
    usable = network.num_addresses - 2 if network.version == 4 else network.num_addresses
    if abs(index) >= usable:
        raise PlanError(f"{what} {network} is too small for the sandbox")
    return network[index]


def _host4(network: ipaddress.IPv4Network, index: int, what: str) -> ipaddress.IPv4Address:
    address = _host(network, index, what)
    assert isinstance(address, ipaddress.IPv4Address)
    return address


def _outside_own(extra: Network, own: Sequence[Network]) -> Address | None:
    """A host address of `extra` outside the cluster's own ranges, if there is one near by."""
    for index in (10, 1, -2):
        if abs(index) < extra.num_addresses - 1:
            address = extra[index]
            if not any(address.version == r.version and address in r for r in own):
                return address
    return None


def _kept(address: Address, ranges: StackRanges) -> bool:
    if address in LINK_LOCAL:
        return not ranges.masq_link_local
    kept = [r for r in ranges.all_ranges() if r != LINK_LOCAL]
    return any(address.version == r.version and address in r for r in kept)


def plan_cluster(ranges: StackRanges, *, nodes: int = 2, pods_per_node: int = 2) -> ClusterPlan:
    """Every address of the sandbox: nodes and pods from the stack, outside hosts beyond it."""
    if not 1 <= nodes <= 8 or not 1 <= pods_per_node <= 4:
        raise PlanError(f"sandbox size {nodes} nodes x {pods_per_node} pods is out of bounds")
    # GKE hands each node a slice of the pod range (a /24 by default); narrower when the
    # stack's pod range is small, but always room for the gateway and the pods.
    slice_prefix = max(24, ranges.pods.prefixlen + math.ceil(math.log2(nodes)))
    if slice_prefix > 29:
        raise PlanError(f"pod range {ranges.pods} is too small for {nodes} nodes")
    slices4 = list(ranges.pods.subnets(new_prefix=slice_prefix))[:nodes]
    node_net6: ipaddress.IPv6Network | None = None
    slices6: list[ipaddress.IPv6Network | None] = [None] * nodes
    if ranges.ula6 is not None:
        if ranges.ula6.prefixlen > 60:
            raise PlanError(f"IPv6 range {ranges.ula6} is too small (want /60 or wider)")
        subnets = ranges.ula6.subnets(new_prefix=64)
        node_net6 = next(subnets)
        slices6 = [next(subnets) for _ in range(nodes)]

    node_plans = []
    for index in range(nodes):
        name = f"node{index}"
        pod_slice4 = slices4[index]
        pod_slice6 = slices6[index]
        pods = tuple(
            PodPlan(
                name=f"pod{index}{chr(ord('a') + p)}",
                node=name,
                ip4=pod_slice4[2 + p],
                ip6=None if pod_slice6 is None else pod_slice6[2 + p],
            )
            for p in range(pods_per_node)
        )
        node_plans.append(
            NodePlan(
                name=name,
                ip4=_host4(ranges.nodes, 2 + index, "node range"),
                ip6=None if node_net6 is None else node_net6[2 + index],
                pod_slice4=pod_slice4,
                pod_slice6=pod_slice6,
                pod_gateway4=pod_slice4[1],
                pod_gateway6=None if pod_slice6 is None else pod_slice6[1],
                pods=pods,
            )
        )

    taken = [*ranges.all_ranges()]
    world4, peer4 = _free(OUTSIDE_CANDIDATES4, taken, 2)
    world6 = _free(OUTSIDE_CANDIDATES6, taken, 1)[0] if ranges.dual_stack else None
    vpchost4 = _host4(ranges.nodes, -2, "node range")
    vpchost6 = None if node_net6 is None else node_net6[200]

    def dest(name: str, address: Address, host: str = "world") -> Destination:
        return Destination(name, address, host, _kept(address, ranges))

    destinations = [dest("vpc host", vpchost4, "vpchost")]
    if ranges.services is not None:
        destinations.append(dest("service", _host(ranges.services, 10, "services range")))
    if ranges.control_plane is not None:
        destinations.append(dest("control plane", _host(ranges.control_plane, 2, "control plane")))
    # A peered host per extra range, at an address none of the cluster's own ranges holds
    # (an extra may be wide, e.g. all of 10.0.0.0/8 around the pods): one host, one place.
    own: list[Network] = [
        r for r in (ranges.nodes, ranges.pods, ranges.services, ranges.control_plane) if r
    ]
    own += [*ranges.additional_pods, *([ranges.ula6] if ranges.ula6 else []), LINK_LOCAL]
    extras = [e for e in ranges.extras if e.version == 4 or ranges.dual_stack]
    for index, extra in enumerate(extras):
        suffix = "" if index == 0 else f" {index + 1}"
        address = _outside_own(extra, own)
        if address is not None:
            destinations.append(dest(f"peered{suffix}", address))
    destinations.append(dest("metadata (link-local)", METADATA))
    destinations.append(dest("internet", world4[10]))
    destinations.append(dest("new peer", peer4[10]))
    if vpchost6 is not None and world6 is not None:
        destinations.append(dest("vpc host v6", vpchost6, "vpchost"))
        destinations.append(dest("internet v6", world6[0x10]))
    return ClusterPlan(
        ranges=ranges,
        gateway4=_host4(ranges.nodes, 1, "node range"),
        gateway6=None if node_net6 is None else node_net6[1],
        node_net6=node_net6,
        nodes=tuple(node_plans),
        vpchost4=vpchost4,
        vpchost6=vpchost6,
        world_net4=world4,
        world_net6=world6,
        destinations=tuple(destinations),
        new_peer=peer4,
    )


def plan_probes(plan: ClusterPlan, protos: Sequence[str] = ("tcp", "udp")) -> list[Probe]:
    """Every pod to every destination, plus a pod on its own node and one on the next node."""
    probes = []
    for node_index, node in enumerate(plan.nodes):
        other = plan.nodes[(node_index + 1) % len(plan.nodes)]
        for pod in node.pods:
            peers = [p for p in node.pods if p != pod][:1]
            if other is not node:
                peers.append(other.pods[0])
            for proto in protos:
                for d in plan.destinations:
                    if d.address.version == 6 and pod.ip6 is None:
                        continue
                    node_ip = node.ip4 if d.address.version == 4 else node.ip6
                    pod_ip = pod.ip4 if d.address.version == 4 else pod.ip6
                    seen = pod_ip if d.kept else node_ip
                    assert seen is not None
                    probes.append(Probe(pod, d.name, d.address, proto, seen))
                for peer in peers:
                    for address in (peer.ip4, peer.ip6):
                        own = pod.ip4 if address is not None and address.version == 4 else pod.ip6
                        if address is None or own is None:
                            continue
                        where = "same node" if peer.node == pod.node else "other node"
                        probes.append(Probe(pod, f"pod {peer.name} ({where})", address, proto, own))
    return probes
