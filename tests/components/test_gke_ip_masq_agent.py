"""GkeIpMasqAgent's reading of ids and self links (its construct is tested in test_provider.py)."""

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest

from pulumi_ip_masq_agent.arguments import ArgumentError
from pulumi_ip_masq_agent.gke_ip_masq_agent import (
    CLUSTER_FORM,
    CLUSTER_PATH,
    SUBNETWORK_FORM,
    SUBNETWORK_PATH,
    GcpPath,
    GkeIpMasqAgent,
    parse_gcp_path,
)
from pulumi_ip_masq_agent.pulumi_sdk import MockCallArgs
from testbed.harness.offline import is_unknown, run_under_mocks


@pytest.mark.parametrize(
    "given",
    [
        "projects/p/regions/europe-west1/subnetworks/gke",
        "https://www.googleapis.com/compute/v1/projects/p/regions/europe-west1/subnetworks/gke",
        "//compute.googleapis.com/projects/p/regions/europe-west1/subnetworks/gke",
    ],
    ids=["id", "self-link", "full-resource-name"],
)
def test_a_subnetwork_id_or_self_link(given: str) -> None:
    where = "GkeIpMasqAgent a"
    assert parse_gcp_path(where, "subnetwork", given, SUBNETWORK_PATH, SUBNETWORK_FORM) == GcpPath(
        "p", "europe-west1", "gke"
    )


@pytest.mark.parametrize(
    ("given", "location"),
    [
        ("projects/p/locations/europe-west1/clusters/gke", "europe-west1"),
        (
            "https://container.googleapis.com/v1/projects/p/zones/europe-west1-b/clusters/gke",
            "europe-west1-b",
        ),
    ],
    ids=["id", "zonal-self-link"],
)
def test_a_cluster_id_or_self_link(given: str, location: str) -> None:
    where = "GkeIpMasqAgent a"
    assert parse_gcp_path(where, "cluster", given, CLUSTER_PATH, CLUSTER_FORM) == GcpPath(
        "p", location, "gke"
    )


@pytest.mark.parametrize(
    "given",
    ["gke", "projects/p/regions/r/subnetworks/gke", "projects/p/locations/l/clusters/", 42],
    ids=["bare-name", "a-subnetwork", "no-name", "not-a-string"],
)
def test_anything_else_is_one_line_naming_the_argument(given: object) -> None:
    with pytest.raises(ArgumentError) as raised:
        parse_gcp_path("GkeIpMasqAgent a", "cluster", given, CLUSTER_PATH, CLUSTER_FORM)
    assert str(raised.value) == (
        f"GkeIpMasqAgent a: cluster: {given!r} is not an id or self link ({CLUSTER_FORM})"
    )


def test_a_new_subnets_unknown_id_leaves_the_list_unknown_in_preview() -> None:
    # The `_output` lookups wait for their inputs: nothing is looked up with an unknown id.
    def no_lookup(args: MockCallArgs) -> dict[str, Any]:
        raise AssertionError(f"looked up {args.token} with an unknown id")

    def program() -> None:
        subnet = gcp.compute.Subnetwork("gke", network="vpc", ip_cidr_range="10.30.0.0/22")
        agent = GkeIpMasqAgent("agent", {"subnetwork": subnet.id, "image": "registry/a@sha256:1"})
        pulumi.export("cidrs", agent.non_masquerade_cidrs)

    result = run_under_mocks(program, stack="test", config={}, call=no_lookup)
    assert is_unknown(result.outputs["cidrs"])
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    assert is_unknown(configmap.inputs["data"]["config"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"backend": "nft"},
            "backend: 'nft' is not one of auto, iptables, nftables, iptables-nft, iptables-legacy",
            id="backend",
        ),
        pytest.param(
            {"resources": {"limits": {"memory": "32Mi"}}},
            "resources.limits.memory: '32Mi' is below the 96Mi the agent's largest accepted"
            " config needs",
            id="memory",
        ),
        pytest.param(
            {"cidrLimit": 3}, "cidrLimit: unknown argument (did you mean cidr_limit?)", id="key"
        ),
    ],
)
def test_a_bad_passed_through_argument_is_named_under_this_component_up_front(
    overrides: dict[str, object], message: str
) -> None:
    errors: list[str] = []

    def program() -> None:
        try:
            given = {
                "subnetwork": "projects/p/regions/r/subnetworks/s",
                "image": "registry/a@sha256:1",
                **overrides,
            }
            GkeIpMasqAgent("agent", given)  # type: ignore[arg-type]
        except ValueError as err:
            errors.append(str(err))

    result = run_under_mocks(program, stack="test", config={})
    assert errors == [f"GkeIpMasqAgent agent: {message}"]
    assert result.resources == ()
