"""gke_ranges on a user's own Subnetwork and Cluster, under preview mocks."""

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest

from pulumi_ip_masq_agent import IpMasqAgent, Platform, gke_ranges
from pulumi_ip_masq_agent.arguments import ResolvedInputError
from pulumi_ip_masq_agent.gke_range_reader import (
    looked_up_cluster_ranges,
    looked_up_subnetwork_ranges,
)
from testbed.harness.offline import RenderError, RenderResult, is_unknown, run_under_mocks


def subnet(**overrides: Any) -> gcp.compute.Subnetwork:
    args: dict[str, Any] = {
        "region": "europe-west1",
        "network": "vpc",
        "ip_cidr_range": "10.30.0.0/22",
        "secondary_ip_ranges": [
            gcp.compute.SubnetworkSecondaryIpRangeArgs(
                range_name="pods", ip_cidr_range="10.32.0.0/14"
            ),
            gcp.compute.SubnetworkSecondaryIpRangeArgs(
                range_name="services", ip_cidr_range="10.30.16.0/20"
            ),
        ],
    }
    args.update(overrides)
    return gcp.compute.Subnetwork("gke", **args)


def private_cluster(cidr: str = "172.16.4.0/28") -> gcp.container.Cluster:
    return gcp.container.Cluster(
        "gke",
        location="europe-west1",
        private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
            enable_private_nodes=True, master_ipv4_cidr_block=cidr
        ),
    )


def run(program: Callable[[], Any]) -> RenderResult:
    def main() -> None:
        ranges = program()
        pulumi.export("ranges", ranges)
        agent = IpMasqAgent("agent", {"ranges": ranges, "platform": Platform.GKE_MANAGED_AGENT})
        pulumi.export("cidrs", agent.non_masquerade_cidrs)

    return run_under_mocks(main, stack="test", config={}, project="byo")


def test_subnet_and_private_cluster_ranges_with_labels_and_origins() -> None:
    result = run(lambda: gke_ranges(subnet(), private_cluster()))
    assert result.outputs["ranges"] == [
        {"cidr": "10.30.0.0/22", "label": "primary range", "origin": "Subnetwork gke"},
        {"cidr": "10.32.0.0/14", "label": "secondary range 'pods'", "origin": "Subnetwork gke"},
        {
            "cidr": "10.30.16.0/20",
            "label": "secondary range 'services'",
            "origin": "Subnetwork gke",
        },
        {"cidr": "172.16.4.0/28", "label": "control-plane range", "origin": "Cluster gke"},
    ]
    assert result.outputs["cidrs"] == [
        "10.30.0.0/22",
        "10.30.16.0/20",
        "10.32.0.0/14",
        "172.16.4.0/28",
    ]


def test_a_public_cluster_adds_no_range_and_the_configmap_stays_known() -> None:
    def program() -> Any:
        public = gcp.container.Cluster("public", location="europe-west1")
        return gke_ranges(subnet(), public)

    result = run(program)
    assert result.outputs["cidrs"] == ["10.30.0.0/22", "10.30.16.0/20", "10.32.0.0/14"]


def test_a_dual_stack_subnet_waits_for_its_ipv6_prefix() -> None:
    # GCP computes the internal IPv6 prefix: in a first preview the list is honestly unknown.
    result = run(lambda: gke_ranges(subnet(stack_type="IPV4_IPV6", ipv6_access_type="INTERNAL")))
    assert is_unknown(result.outputs["cidrs"])


def test_a_bad_range_names_its_label_and_resource() -> None:
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=r"^IpMasqAgent agent: ranges: control-plane range of Cluster gke: "
        r"'172.16.4.1/28' has host bits set",
    ):
        run(lambda: gke_ranges(subnet(), private_cluster("172.16.4.1/28")))


LOOKED_UP_SUBNET = {
    "ip_cidr_range": "10.30.0.0/22",
    "secondary_ip_ranges": [{"range_name": "pods", "ip_cidr_range": "10.32.0.0/14"}],
    "stack_type": "IPV4_IPV6",
    "ipv6_access_type": "INTERNAL",
    "internal_ipv6_prefix": "fd20:aa:bb:1::/64",
}


@pytest.mark.parametrize(
    ("overrides", "ipv6"),
    [
        ({}, ["fd20:aa:bb:1::/64"]),
        ({"ipv6_access_type": "EXTERNAL"}, []),
        ({"stack_type": "IPV4_ONLY"}, []),
    ],
    ids=["dual-stack-internal", "external-ipv6", "ipv4-only"],
)
def test_a_subnetwork_lookup_maps_as_the_resource_does(
    overrides: dict[str, str], ipv6: list[str]
) -> None:
    ranges = looked_up_subnetwork_ranges("Subnetwork s", {**LOOKED_UP_SUBNET, **overrides})
    assert ranges == [
        {"cidr": "10.30.0.0/22", "label": "primary range", "origin": "Subnetwork s"},
        {"cidr": "10.32.0.0/14", "label": "secondary range 'pods'", "origin": "Subnetwork s"},
        *[{"cidr": c, "label": "internal IPv6 range", "origin": "Subnetwork s"} for c in ipv6],
    ]


@pytest.mark.parametrize(
    ("configs", "expected"),
    [
        ([{"master_ipv4_cidr_block": "172.16.4.0/28"}], ["172.16.4.0/28"]),
        ([{"master_ipv4_cidr_block": ""}], []),
        ([], []),
        (None, []),
    ],
    ids=["private", "public", "no-config", "unset"],
)
def test_a_cluster_lookup_gives_a_private_clusters_control_plane(
    configs: list[dict[str, str]] | None, expected: list[str]
) -> None:
    ranges = looked_up_cluster_ranges("Cluster c", {"private_cluster_configs": configs})
    assert ranges == [
        {"cidr": c, "label": "control-plane range", "origin": "Cluster c"} for c in expected
    ]
