"""The sandbox cluster on a real kernel: routes keep pod sources; a MASQUERADE rule changes them."""

import ipaddress
import subprocess

import pytest

from testbed.netlab.cluster import Cluster
from testbed.netlab.cluster_plan import Probe, StackRanges, plan_cluster, plan_probes
from testbed.netlab.lab import Lab

pytestmark = pytest.mark.kernel

V4 = ipaddress.IPv4Network
DUAL = StackRanges(
    nodes=V4("10.10.0.0/20"),
    pods=V4("10.12.0.0/16"),
    services=V4("10.11.0.0/20"),
    control_plane=V4("172.16.0.16/28"),
    extras=(V4("10.200.0.0/16"),),
    ula6=ipaddress.IPv6Network("fd20:a:b::/48"),
)


def _as_if_kept(probe: Probe) -> Probe:
    own = probe.source.ip4 if probe.address.version == 4 else probe.source.ip6
    assert own is not None
    return Probe(probe.source, probe.target, probe.address, probe.proto, own)


def test_routing_keeps_every_source_until_a_rule_masquerades(lab: Lab) -> None:
    plan = plan_cluster(DUAL, nodes=2)
    cluster = Cluster(lab, plan)
    probes = plan_probes(plan)
    # No NAT anywhere yet: every destination, pods on other nodes too, sees the pod itself.
    unnatted = cluster.run_probes([_as_if_kept(p) for p in probes])
    assert [r for r in unnatted if not r.ok] == []

    # A hand-written stand-in for the agent: masquerade exactly what the plan says to.
    for node in plan.nodes:
        ns = cluster.nodes[node.name]
        for destination in plan.destinations:
            if not destination.kept:
                tool = "ip6tables" if destination.address.version == 6 else "iptables"
                ns.run(
                    tool,
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-d",
                    str(destination.address),
                    "-j",
                    "MASQUERADE",
                )
    natted = cluster.run_probes(probes)
    assert [r for r in natted if not r.ok] == []
    assert {r.seen for r in natted if r.probe.expected == "masqueraded"} == {
        str(ip) for node in plan.nodes for ip in (node.ip4, node.ip6)
    }


def test_close_leaves_no_namespace(kernel_available: None) -> None:
    def ours(token: str) -> set[str]:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
        return {line.split()[0] for line in out.stdout.splitlines() if line.startswith(token)}

    with Lab() as lab:
        Cluster(lab, plan_cluster(DUAL, nodes=2))
        assert len(ours(lab.token)) == 1 + 1 + 2 + 4 + 1  # vpc, vpchost, nodes, pods, world
    assert ours(lab.token) == set()
