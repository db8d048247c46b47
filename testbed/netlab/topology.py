"""A single Kubernetes-like node: a pod behind a node, and a world of destinations beyond it."""

from dataclasses import dataclass, field

from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.probe import Target, seen_sources

ECHO_PORT = 7777


@dataclass(frozen=True)
class Addresses:
    """Addresses of the single-node topology; destinations are all hosted by the world."""

    pod: str = "10.244.1.2"
    pod6: str = "fd00:244:1::2"
    node_pod_side: str = "10.244.1.1"
    node_pod_side6: str = "fd00:244:1::1"
    node: str = "10.128.0.2"  # what masqueraded traffic carries
    node6: str = "fd00:128::2"
    gateway: str = "10.128.0.1"
    gateway6: str = "fd00:128::1"
    # destination class -> address on the world host
    destinations: dict[str, str] = field(
        default_factory=lambda: {
            "vpc": "10.128.0.1",
            "internet": "203.0.113.10",
            "link-local": "169.254.169.254",
            "vpc6": "fd00:128::1",
            "internet6": "2001:db8::10",
        }
    )


class SingleNode:
    """pod -> node -> world. The node forwards and NATs; the world reports sources it sees."""

    def __init__(self, lab: Lab, addresses: Addresses | None = None) -> None:
        self.addresses = a = addresses or Addresses()
        self.lab = lab
        self.pod: Namespace = lab.namespace("pod")
        self.node: Namespace = lab.namespace("node")
        self.world: Namespace = lab.namespace("world")
        lab.link(
            self.pod,
            self.node,
            [f"{a.pod}/24", f"{a.pod6}/64"],
            [f"{a.node_pod_side}/24", f"{a.node_pod_side6}/64"],
            a_name="eth0",
            b_name="pod0",
        )
        lab.link(
            self.node,
            self.world,
            [f"{a.node}/24", f"{a.node6}/64"],
            [f"{a.gateway}/24", f"{a.gateway6}/64"],
            a_name="eth0",
            b_name="eth0",
        )
        for address in a.destinations.values():
            if address not in (a.gateway, a.gateway6):
                prefix = "/128" if ":" in address else "/32"
                self.world.add_address("eth0", address + prefix)
        self.pod.add_route("default", a.node_pod_side)
        self.pod.add_route("default", a.node_pod_side6)
        self.node.add_route("default", a.gateway)
        self.node.add_route("default", a.gateway6)
        # VPC-native: the world routes pod ranges back to the node, so kept sources get replies.
        self.world.add_route("10.244.0.0/16", a.node)
        self.world.add_route("fd00:244::/32", a.node6)
        lab.spawn(
            self.world,
            *self.world.python("testbed.netlab.echo", "--port", str(ECHO_PORT)),
            ready_line="ready",
        )

    def target(self, destination: str, proto: str = "udp") -> Target:
        return Target(proto, self.addresses.destinations[destination], ECHO_PORT)

    def seen_from_pod(self, *destinations: str, proto: str = "udp") -> dict[str, str | None]:
        """Destination class -> source address the world saw for a packet from the pod."""
        targets = {d: self.target(d, proto) for d in destinations}
        seen = seen_sources(self.pod, list(targets.values()))
        return {d: seen[t] for d, t in targets.items()}
