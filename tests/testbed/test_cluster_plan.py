"""The sandbox cluster's address plan: every address where the stack's ranges put it."""

import ipaddress

import pytest

from testbed.netlab.cluster_plan import (
    METADATA,
    PlanError,
    StackRanges,
    plan_cluster,
    plan_probes,
)

V4 = ipaddress.IPv4Network
LOCAL = StackRanges(
    nodes=V4("172.18.0.0/16"), pods=V4("10.244.0.0/16"), services=V4("10.96.0.0/12")
)
DUAL = StackRanges(
    nodes=V4("10.10.0.0/20"),
    pods=V4("10.12.0.0/16"),
    services=V4("10.11.0.0/20"),
    control_plane=V4("172.16.0.16/28"),
    extras=(V4("10.200.0.0/16"),),
    ula6=ipaddress.IPv6Network("fd20:a:b::/48"),
)


def test_nodes_and_pods_come_from_the_stack_ranges() -> None:
    plan = plan_cluster(DUAL, nodes=3)
    assert [n.name for n in plan.nodes] == ["node0", "node1", "node2"]
    for node in plan.nodes:
        assert DUAL.ula6 is not None and node.ip6 is not None and node.pod_slice6 is not None
        assert node.ip4 in DUAL.nodes and node.ip6 in DUAL.ula6
        assert node.pod_slice4.subnet_of(DUAL.pods)
        for pod in node.pods:
            assert pod.ip6 is not None
            assert pod.ip4 in node.pod_slice4 and pod.ip6 in node.pod_slice6
    slices = [n.pod_slice4 for n in plan.nodes]
    assert not any(a.overlaps(b) for i, a in enumerate(slices) for b in slices[i + 1 :])
    addresses = [n.ip4 for n in plan.nodes] + [plan.gateway4, plan.vpchost4]
    assert len(set(addresses)) == len(addresses)


@pytest.mark.parametrize(
    ("ranges", "kept", "masqueraded"),
    [
        pytest.param(
            LOCAL,
            {"vpc host", "service", "metadata (link-local)"},
            {"internet", "new peer"},
            id="local",
        ),
        pytest.param(
            DUAL,
            {
                "vpc host",
                "service",
                "control plane",
                "peered",
                "metadata (link-local)",
                "vpc host v6",
            },
            {"internet", "new peer", "internet v6"},
            id="dual-stack",
        ),
        pytest.param(
            StackRanges(nodes=V4("10.0.0.0/24"), pods=V4("10.1.0.0/16"), masq_link_local=True),
            {"vpc host"},
            {"internet", "new peer", "metadata (link-local)"},
            id="masq-link-local",
        ),
    ],
)
def test_destinations_expect_what_the_ranges_say(
    ranges: StackRanges, kept: set[str], masqueraded: set[str]
) -> None:
    plan = plan_cluster(ranges)
    assert {d.name for d in plan.destinations if d.kept} == kept
    assert {d.name for d in plan.destinations if not d.kept} == masqueraded
    assert plan.destination("metadata (link-local)").address == METADATA
    for name in ("internet", "new peer"):
        address = plan.destination(name).address
        assert not any(address in r for r in ranges.all_ranges() if r.version == 4)
    assert plan.destination("new peer").address in plan.new_peer


def test_outside_hosts_move_when_the_stack_covers_the_usual_ones() -> None:
    ranges = StackRanges(
        nodes=V4("10.0.0.0/24"), pods=V4("10.1.0.0/16"), extras=(V4("203.0.113.0/24"),)
    )
    plan = plan_cluster(ranges)
    assert plan.destination("peered").kept
    assert plan.destination("internet").address not in V4("203.0.113.0/24")
    assert not plan.world_net4.overlaps(V4("203.0.113.0/24"))


def test_probes_expect_pod_ip_when_kept_and_node_ip_when_masqueraded() -> None:
    plan = plan_cluster(DUAL)
    probes = plan_probes(plan)
    assert {p.proto for p in probes} == {"tcp", "udp"}
    for probe in probes:
        node = plan.node_of(probe.source)
        own = probe.source.ip4 if probe.address.version == 4 else probe.source.ip6
        node_ip = node.ip4 if probe.address.version == 4 else node.ip6
        assert probe.expected_source == (own if probe.expected == "kept" else node_ip)
    cross = [p for p in probes if "other node" in p.target]
    assert cross and all(p.expected == "kept" for p in cross)
    internet = [p for p in probes if p.target.startswith("internet")]
    assert internet and all(p.expected == "masqueraded" for p in internet)


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        pytest.param(
            StackRanges(nodes=V4("10.0.0.0/30"), pods=V4("10.1.0.0/16")),
            "node range 10.0.0.0/30 is too small",
            id="tiny-node-range",
        ),
        pytest.param(
            StackRanges(nodes=V4("10.0.0.0/24"), pods=V4("10.1.0.0/30")),
            "pod range 10.1.0.0/30 is too small",
            id="tiny-pod-range",
        ),
    ],
)
def test_ranges_too_small_for_the_sandbox_are_refused(ranges: StackRanges, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_cluster(ranges)


def test_a_peered_host_never_takes_an_address_of_the_clusters_own_ranges() -> None:
    wide = StackRanges(nodes=V4("10.0.0.0/24"), pods=V4("10.1.0.0/16"), extras=(V4("10.0.0.0/8"),))
    peered = plan_cluster(wide).destination("peered")
    assert peered.kept and peered.address in V4("10.0.0.0/8")
    assert peered.address not in wide.nodes and peered.address not in wide.pods
