"""The sandbox cluster in namespaces: nodes on a VPC bridge, pods behind them, hosts beyond."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from testbed.netlab.cluster_plan import ClusterPlan, NodePlan, PodPlan, Probe
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.probe import Target, seen_sources

ECHO_PORT = 7777


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    seen: str | None  # the source address the destination reported; None: no answer

    @property
    def ok(self) -> bool:
        return self.seen == str(self.probe.expected_source)


def target_of(probe: Probe) -> Target:
    return Target(probe.proto, str(probe.address), ECHO_PORT)


def _host_prefix(address: object) -> str:
    return "/128" if ":" in str(address) else "/32"


class Cluster:
    """Builds a ClusterPlan in a Lab; the Lab removes everything on close.

    Namespaces: `vpc` (the VPC router: a bridge holding the node subnet's gateway, routing each
    node's pod slice to that node as VPC-native alias ranges do), `vpchost` (on the bridge),
    one per node and pod, and `world` (every address beyond the VPC: peered, services,
    control plane, link-local, internet). Echo servers run in the pods, `vpchost` and `world`.
    """

    def __init__(self, lab: Lab, plan: ClusterPlan) -> None:
        self.lab = lab
        self.plan = plan
        self.vpc = lab.namespace("vpc")
        self.nodes: dict[str, Namespace] = {}
        self.pods: dict[str, Namespace] = {}
        self._build_vpc()
        self.vpchost = lab.namespace("vpchost")
        self._attach_to_vpc(self.vpchost, "vh0", str(plan.vpchost4), plan.vpchost6)
        for node in plan.nodes:
            self._build_node(node)
        self.world = lab.namespace("world")
        self._build_world()
        lab.settle()
        for ns in (self.vpchost, self.world, *self.pods.values()):
            lab.spawn(
                ns, *ns.python("testbed.netlab.echo", "--port", str(ECHO_PORT)), ready_line="ready"
            )

    def _build_vpc(self) -> None:
        plan, vpc = self.plan, self.vpc
        vpc.run("ip", "link", "add", "br0", "type", "bridge")
        vpc.run("ip", "link", "set", "br0", "up")
        vpc.add_address("br0", f"{plan.gateway4}/{plan.ranges.nodes.prefixlen}")
        if plan.gateway6 is not None and plan.node_net6 is not None:
            vpc.add_address("br0", f"{plan.gateway6}/{plan.node_net6.prefixlen}")
        # Nodes reach each other's pods through the router on the same bridge: redirects would
        # only be noise, the route through the router is the point.
        vpc.sysctl("net.ipv4.conf.all.send_redirects", "0")
        vpc.sysctl("net.ipv4.conf.default.send_redirects", "0")

    def _attach_to_vpc(self, ns: Namespace, port: str, ip4: str, ip6: object | None) -> None:
        plan = self.plan
        addresses = [f"{ip4}/{plan.ranges.nodes.prefixlen}"]
        if ip6 is not None and plan.node_net6 is not None:
            addresses.append(f"{ip6}/{plan.node_net6.prefixlen}")
        self.lab.link(ns, self.vpc, addresses, [], a_name="eth0", b_name=port)
        self.vpc.run("ip", "link", "set", port, "master", "br0")
        ns.add_route("default", str(plan.gateway4))
        if ip6 is not None and plan.gateway6 is not None:
            ns.add_route("default", str(plan.gateway6))

    def _build_node(self, node: NodePlan) -> None:
        ns = self.lab.namespace(node.name)
        self.nodes[node.name] = ns
        self._attach_to_vpc(ns, f"{node.name}p", str(node.ip4), node.ip6)
        # VPC-native routing: the VPC sends each node's pod slice to that node.
        self.vpc.add_route(str(node.pod_slice4), str(node.ip4))
        if node.pod_slice6 is not None and node.ip6 is not None:
            self.vpc.add_route(str(node.pod_slice6), str(node.ip6))
        for index, pod in enumerate(node.pods):
            self._build_pod(ns, node, pod, f"pod{index}")

    def _build_pod(self, node_ns: Namespace, node: NodePlan, pod: PodPlan, port: str) -> None:
        # Point-to-point pod links as common CNIs do: the pod holds a /32 (/128), the node
        # holds its pod gateway on every pod veth and a host route per pod.
        ns = self.lab.namespace(pod.name)
        self.pods[pod.name] = ns
        pod_addresses = [f"{pod.ip4}/32"] + ([f"{pod.ip6}/128"] if pod.ip6 else [])
        gateways = [f"{node.pod_gateway4}/32"]
        if node.pod_gateway6 is not None:
            gateways.append(f"{node.pod_gateway6}/128")
        self.lab.link(ns, node_ns, pod_addresses, gateways, a_name="eth0", b_name=port)
        for gateway in (node.pod_gateway4, node.pod_gateway6):
            if gateway is not None:
                family = "-6" if gateway.version == 6 else "-4"
                ns.run("ip", family, "route", "replace", str(gateway), "dev", "eth0")
                ns.add_route("default", str(gateway))
        for address in (pod.ip4, pod.ip6):
            if address is not None:
                family = "-6" if address.version == 6 else "-4"
                node_ns.run("ip", family, "route", "replace", str(address), "dev", port)

    def _build_world(self) -> None:
        plan, world = self.plan, self.world
        net4, net6 = plan.world_net4, plan.world_net6
        world_addresses = [f"{net4[2]}/{net4.prefixlen}"]
        router_addresses = [f"{plan.world_router4()}/{net4.prefixlen}"]
        if net6 is not None:
            world_addresses.append(f"{net6[2]}/{net6.prefixlen}")
            router_addresses.append(f"{plan.world_router6()}/{net6.prefixlen}")
        self.lab.link(
            world, self.vpc, world_addresses, router_addresses, a_name="eth0", b_name="w0"
        )
        world.add_route("default", str(plan.world_router4()))
        if net6 is not None:
            world.add_route("default", str(plan.world_router6()))
        for destination in plan.destinations:
            if destination.host != "world":
                continue
            address = destination.address
            world.add_address("eth0", f"{address}{_host_prefix(address)}")
            link = net4 if address.version == 4 else net6
            if link is not None and address not in link:
                self.vpc.add_route(f"{address}{_host_prefix(address)}", str(link[2]))

    def run_probes(self, probes: Sequence[Probe], timeout: float = 2.0) -> list[ProbeResult]:
        """Every probe from its pod, one client process per pod, pods in parallel."""
        by_pod: dict[str, list[Probe]] = {}
        for probe in probes:
            by_pod.setdefault(probe.source.name, []).append(probe)

        def run(pod: str) -> dict[Target, str | None]:
            targets = list(dict.fromkeys(target_of(p) for p in by_pod[pod]))
            return seen_sources(self.pods[pod], targets, timeout=timeout)

        with ThreadPoolExecutor(max_workers=len(by_pod) or 1) as pool:
            seen = dict(zip(by_pod, pool.map(run, by_pod), strict=True))
        return [ProbeResult(p, seen[p.source.name][target_of(p)]) for p in probes]
