"""non-masquerade-covers-pod-ranges over hand-built GKE stacks."""

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.prefixes import Prefix
from pulumi_ip_masq_agent.cidrs import uncovered
from pulumi_ip_masq_agent.policy.pod_range_coverage import validate_pod_ranges_covered
from pulumi_ip_masq_agent.policy.preview_unknowns import CannotCheckUntilDeployedError
from tests.policies.objects import (
    CLUSTER,
    CONFIGMAP,
    NODE_POOL,
    SUBNETWORK,
    agent_config,
    cluster,
    configmap,
    gke_stack,
    node_pool,
    subnetwork,
)
from tests.policies.policy_args import UNKNOWN, run_stack

Stack = list[tuple[str, str, dict[str, Any]]]


def check(resources: Stack, violations: list[str] | None = None) -> list[str]:
    return run_stack(validate_pod_ranges_covered, resources, violations=violations)


def replace(stack: Stack, resource_type: str, props: dict[str, Any]) -> Stack:
    return [(t, n, props if t == resource_type else p) for t, n, p in stack]


def with_cidrs(*cidrs: str) -> Stack:
    return replace(gke_stack(), CONFIGMAP, configmap(agent_config(nonMasqueradeCIDRs=list(cidrs))))


def test_covered_stack_passes() -> None:
    assert check(gke_stack()) == []


def test_one_supernet_covers_everything() -> None:
    assert check(with_cidrs("10.0.0.0/8")) == []


def test_dropped_pod_range_is_named_with_cluster_and_cidr() -> None:
    [violation] = check(with_cidrs("10.0.0.0/20", "10.8.0.0/20", "10.12.0.0/16"))
    assert "ConfigMap kube-system/ip-masq-agent (ip-masq-config)" in violation
    assert "pod range of cluster 'dev-gke'" in violation
    assert "secondary range 'pods' of subnet 'dev-nodes'" in violation
    assert "10.4.0.0/14" in violation


def test_partly_covered_range_names_the_uncovered_part() -> None:
    [violation] = check(with_cidrs("10.4.0.0/15", "10.8.0.0/20", "10.12.0.0/16"))
    assert "10.4.0.0/14 (uncovered: 10.6.0.0/15)" in violation


def test_dropped_services_range_is_named() -> None:
    [violation] = check(with_cidrs("10.4.0.0/14", "10.12.0.0/16"))
    assert "services range of cluster 'dev-gke'" in violation
    assert "10.8.0.0/20" in violation


def test_node_pool_and_additional_pod_ranges_are_required() -> None:
    violations = check(with_cidrs("10.4.0.0/14", "10.8.0.0/20"))
    assert any("additional pod range of cluster 'dev-gke'" in v for v in violations)
    assert any("pod range of node pool 'extra'" in v for v in violations)


def test_explicit_cidr_blocks_and_node_pool_cidr() -> None:
    gke = cluster()
    gke["ipAllocationPolicy"] = {
        "clusterIpv4CidrBlock": "10.100.0.0/14",
        "servicesIpv4CidrBlock": "10.200.0.0/20",
    }
    pool = node_pool()
    pool["networkConfig"] = {"podIpv4CidrBlock": "10.150.0.0/16", "createPodRange": True}
    stack = replace(replace(gke_stack(), CLUSTER, gke), NODE_POOL, pool)
    stack = replace(stack, SUBNETWORK, {**subnetwork(), "secondaryIpRanges": []})
    violations = check(stack)
    assert sorted(v.split(" does not cover ")[1].split(" (")[0] for v in violations) == [
        "pod range of cluster 'dev-gke' 10.100.0.0/14",
        "pod range of node pool 'extra' 10.150.0.0/16",
        "services range of cluster 'dev-gke' 10.200.0.0/20",
    ]


def test_defaults_apply_when_config_has_no_cidrs() -> None:
    # The agent's defaults include 10.0.0.0/8, which covers the whole stack.
    assert check(replace(gke_stack(), CONFIGMAP, configmap("masqLinkLocal: false\n"))) == []
    public = subnetwork()
    public["secondaryIpRanges"][0]["ipCidrRange"] = "100.64.0.0/14"
    [violation] = check(
        replace(replace(gke_stack(), CONFIGMAP, configmap("{}")), SUBNETWORK, public)
    )
    assert "100.64.0.0/14" in violation


def test_subnet_without_cluster_in_stack_requires_all_secondary_ranges() -> None:
    stack = [
        (SUBNETWORK, "subnet", subnetwork()),
        (CONFIGMAP, "cm", configmap(agent_config(nonMasqueradeCIDRs=["10.4.0.0/14"]))),
    ]
    violations = check(stack)
    assert len(violations) == 2
    assert any(
        "secondary range 'services' of subnet 'dev-nodes' 10.8.0.0/20" in v for v in violations
    )


def test_foreign_configmap_is_protected_too() -> None:
    # A stack that deploys the agent without our component: only the ConfigMap and GKE.
    stack = [
        (SUBNETWORK, "legacy-subnet", subnetwork()),
        (CLUSTER, "legacy", cluster()),
        (
            "kubernetes:core/v1:ConfigMap",
            "hand-written",
            configmap(agent_config(nonMasqueradeCIDRs=["192.168.0.0/16"])),
        ),
    ]
    assert len(check(stack)) == 3


def test_patched_gke_configmap_is_protected_too() -> None:
    patch = configmap(agent_config(nonMasqueradeCIDRs=["10.8.0.0/20"]))
    stack = [*without_configmap(), ("kubernetes:core/v1:ConfigMapPatch", "patch", patch)]
    assert any("10.4.0.0/14" in v for v in check(stack))
    labels_only = {"metadata": {**patch["metadata"], "labels": {"team": "net"}}}
    assert (
        check([*without_configmap(), ("kubernetes:core/v1:ConfigMapPatch", "p", labels_only)]) == []
    )


def without_configmap() -> Stack:
    return [(t, n, p) for t, n, p in gke_stack() if t != CONFIGMAP]


def test_stack_without_configmap_has_nothing_to_check() -> None:
    assert check([(t, n, p) for t, n, p in gke_stack() if t != CONFIGMAP]) == []


def test_unknown_range_is_advisory_and_known_gaps_still_reported() -> None:
    subnet = subnetwork()
    subnet["secondaryIpRanges"][1]["ipCidrRange"] = UNKNOWN
    stack = replace(with_cidrs("10.8.0.0/20", "10.12.0.0/16"), SUBNETWORK, subnet)
    violations: list[str] = []
    with pytest.raises(CannotCheckUntilDeployedError) as caught:
        check(stack, violations)
    assert "subnet.secondaryIpRanges.1.ipCidrRange" in str(caught.value)
    assert "cannot check until deployed" in str(caught.value)
    # The services range is unknown, but the known pod range's gap is still a violation.
    [violation] = violations
    assert "pod range of cluster 'dev-gke'" in violation and "10.4.0.0/14" in violation


def test_an_unknown_cluster_field_does_not_hide_a_known_gap() -> None:
    # clusterIpv4Cidr is computed by GCP: unknown in the first preview of a new cluster.
    gke = cluster()
    gke["clusterIpv4Cidr"] = UNKNOWN
    stack = replace(with_cidrs("10.8.0.0/20", "10.12.0.0/16"), CLUSTER, gke)
    violations: list[str] = []
    with pytest.raises(CannotCheckUntilDeployedError, match=r"cluster\.clusterIpv4Cidr not known"):
        check(stack, violations)
    [violation] = violations
    assert "pod range of cluster 'dev-gke'" in violation and "10.4.0.0/14" in violation


def test_unknown_config_is_advisory() -> None:
    stack = replace(gke_stack(), CONFIGMAP, configmap(UNKNOWN))
    with pytest.raises(CannotCheckUntilDeployedError, match=r"ip-masq-config\.data\.config"):
        check(stack)


def test_gcp_chosen_range_is_advisory() -> None:
    gke = cluster()
    gke["ipAllocationPolicy"] = {"clusterIpv4CidrBlock": "/14"}
    with pytest.raises(CannotCheckUntilDeployedError, match="chosen by GCP"):
        check(replace(gke_stack(), CLUSTER, gke))


def test_ranges_left_to_gke_are_advisory() -> None:
    gke = {k: v for k, v in cluster().items() if k != "ipAllocationPolicy"}
    with pytest.raises(CannotCheckUntilDeployedError) as caught:
        check(replace(gke_stack(), CLUSTER, gke))
    assert "pod range of cluster 'dev-gke' (chosen by GKE at creation)" in str(caught.value)
    assert "services range of cluster 'dev-gke' (chosen by GKE at creation)" in str(caught.value)


def test_range_on_subnet_outside_stack_is_advisory() -> None:
    stack = [(t, n, p) for t, n, p in gke_stack() if t != SUBNETWORK]
    with pytest.raises(CannotCheckUntilDeployedError, match="subnet outside the stack"):
        check(stack)


def test_unknown_subnet_reference_resolves_to_the_only_subnet() -> None:
    # First preview: the cluster's subnetwork is the id of a subnet created in this update.
    gke = {**cluster(), "subnetwork": UNKNOWN}
    [violation] = check(
        replace(with_cidrs("10.0.0.0/20", "10.8.0.0/20", "10.12.0.0/16"), CLUSTER, gke)
    )
    assert "pod range of cluster 'dev-gke'" in violation


def test_unknown_subnet_reference_among_several_subnets_is_advisory() -> None:
    other = {**subnetwork(), "name": "other", "secondaryIpRanges": []}
    stack = [
        *replace(gke_stack(), CLUSTER, {**cluster(), "subnetwork": UNKNOWN}),
        (SUBNETWORK, "other", other),
    ]
    with pytest.raises(CannotCheckUntilDeployedError, match=r"cluster\.subnetwork"):
        check(stack)


def dual_stack(vpc_range: str | None) -> Stack:
    gke = cluster()
    gke["ipAllocationPolicy"]["stackType"] = "IPV4_IPV6"
    subnet = {
        **subnetwork(),
        "network": "projects/p/global/networks/dev-vpc",
        "stackType": "IPV4_IPV6",
    }
    vpc = {"name": "dev-vpc"} | ({"internalIpv6Range": vpc_range} if vpc_range else {})
    stack = replace(replace(gke_stack(), CLUSTER, gke), SUBNETWORK, subnet)
    return [("gcp:compute/network:Network", "vpc", vpc), *stack]


def test_dual_stack_requires_the_vpc_ipv6_range() -> None:
    [violation] = check(dual_stack("fd20:a:b::/48"))
    assert (
        "IPv6 pod range of cluster 'dev-gke' (internalIpv6Range of VPC 'vpc') fd20:a:b::/48"
        in violation
    )
    covered = agent_config(nonMasqueradeCIDRs=["10.0.0.0/8", "fd20:a:b::/48"])
    assert check(replace(dual_stack("fd20:a:b::/48"), CONFIGMAP, configmap(covered))) == []


def test_dual_stack_without_known_ipv6_range_is_advisory() -> None:
    with pytest.raises(CannotCheckUntilDeployedError, match="assigned by GCP"):
        check(dual_stack(None))


networks = st.builds(
    lambda address, prefix: ipaddress.ip_network((address, prefix), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(8, 28),
)


@settings(max_examples=150, deadline=None)
@given(required=networks, covering=st.lists(networks, max_size=6))
def test_uncovered_parts_lose_and_invent_no_address(
    required: ipaddress.IPv4Network, covering: list[ipaddress.IPv4Network]
) -> None:
    # Checked with the stdlib's networks, not with PrefixSet (the code under test).
    found = uncovered(Prefix.parse(str(required)), [Prefix.parse(str(c)) for c in covering])
    parts = [ipaddress.ip_network(str(part)) for part in found]
    for part in parts:
        assert isinstance(part, ipaddress.IPv4Network)
        assert part.subnet_of(required)
        assert not any(part.overlaps(c) for c in covering)
    covered = sum(
        n.num_addresses
        for n in ipaddress.collapse_addresses(
            c if c.subnet_of(required) else required for c in covering if c.overlaps(required)
        )
    )
    assert sum(p.num_addresses for p in parts) == required.num_addresses - covered


def with_exceptions(*exceptions: str, kept: tuple[str, ...] = ("10.0.0.0/8",)) -> Stack:
    document = agent_config(nonMasqueradeCIDRs=list(kept), forceMasqueradeCIDRs=list(exceptions))
    return replace(gke_stack(), CONFIGMAP, configmap(document))


def test_an_exception_outside_the_pod_and_services_ranges_passes() -> None:
    assert check(with_exceptions("10.200.0.0/16", "10.0.0.0/24")) == []


def test_an_exception_cutting_into_a_pod_range_names_both() -> None:
    [violation] = check(with_exceptions("10.5.0.0/16"))
    assert violation.startswith(
        "ConfigMap kube-system/ip-masq-agent (ip-masq-config): forceMasqueradeCIDRs entry"
        " 10.5.0.0/16 cuts into pod range of cluster 'dev-gke'"
    )
    assert "10.4.0.0/14 (masqueraded: 10.5.0.0/16); pod traffic to it" in violation


def test_an_exception_swallowing_the_services_range_names_the_part_it_masquerades() -> None:
    # 10.8.0.0/14 holds the services /20; a kept /24 inside the exception is added back.
    [violation] = check(with_exceptions("10.8.0.0/14", kept=("10.0.0.0/8", "10.8.0.0/24")))
    assert "entry 10.8.0.0/14 cuts into services range of cluster 'dev-gke'" in violation
    assert "10.8.0.0/20 (masqueraded: 10.8.1.0/24, 10.8.2.0/23, 10.8.4.0/22, 10.8.8.0/21)" in (
        violation
    )


def test_an_exception_fully_kept_again_inside_does_not_cut() -> None:
    kept = ("10.0.0.0/8", "10.12.0.0/16")
    assert check(with_exceptions("10.12.0.0/15", kept=kept)) == []


def test_a_plain_gap_and_an_exception_are_reported_apart() -> None:
    kept = ("10.0.0.0/20", "10.4.0.0/15", "10.8.0.0/20", "10.12.0.0/16")
    violations = check(with_exceptions("10.4.0.0/16", kept=kept))
    assert len(violations) == 2
    assert "does not cover pod range" in violations[0] and "uncovered: 10.6.0.0/15" in violations[0]
    assert "entry 10.4.0.0/16 cuts into pod range" in violations[1]
    assert "(masqueraded: 10.4.0.0/16)" in violations[1]
