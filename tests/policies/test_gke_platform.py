"""The GKE platform policies on hand-built stacks, and `make check` on mis-wired stack files."""

from pathlib import Path
from typing import Any

import pytest

from pulumi_ip_masq_agent.policy.gke_platform import (
    EGRESS_NAT_TYPE,
    validate_autopilot_kube_system,
    validate_egress_nat_coverage,
    validate_platform_matches_cluster,
)
from testbed.harness.policy_check import main
from tests.policies.objects import (
    CLUSTER,
    CONFIGMAP,
    DAEMONSET,
    SUBNETWORK,
    cluster,
    configmap,
    daemonset,
    subnetwork,
)
from tests.policies.policy_args import UNKNOWN, run_stack

REPO = Path(__file__).resolve().parents[2]
HANDWIRED = REPO / "tests/policies/stacks/handwired"
# Nodes, services, pods and the additional pod range of objects.subnetwork().
EVERY_RANGE = ["10.0.0.0/20", "10.8.0.0/20", "10.4.0.0/14", "10.12.0.0/16"]


def egress_nat_policy(cidrs: list[str], action: str = "NoSNAT") -> dict[str, Any]:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "EgressNATPolicy",
        "metadata": {"name": "ip-masq-agent-derived"},
        "spec": {"action": action, "destinations": [{"cidr": c} for c in cidrs]},
    }


def autopilot_cluster(**changes: Any) -> dict[str, Any]:
    return cluster() | {"enableAutopilot": True, "datapathProvider": "ADVANCED_DATAPATH"} | changes


def autopilot_stack(cidrs: list[str] = EVERY_RANGE) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (SUBNETWORK, "subnet", subnetwork()),
        (CLUSTER, "cluster", autopilot_cluster()),
        (EGRESS_NAT_TYPE, "ip-masq-agent-egress-nat", egress_nat_policy(cidrs)),
    ]


def test_an_autopilot_stack_done_right_passes_every_gke_policy() -> None:
    for validate in (
        validate_platform_matches_cluster,
        validate_autopilot_kube_system,
        validate_egress_nat_coverage,
    ):
        assert run_stack(validate, autopilot_stack()) == []


def test_a_policy_missing_a_pod_range_is_caught_naming_it() -> None:
    [violation] = run_stack(validate_egress_nat_coverage, autopilot_stack(EVERY_RANGE[:3]))
    assert violation.startswith(
        "EgressNATPolicy ip-masq-agent-derived (ip-masq-agent-egress-nat): NoSNAT destinations do "
        "not cover additional pod range of cluster 'dev-gke' (secondary range 'pods-extra' of "
        "subnet 'dev-nodes') 10.12.0.0/16"
    )


def test_a_partly_covered_pod_range_names_the_gap() -> None:
    cidrs = [*EVERY_RANGE[:2], "10.4.0.0/15", "10.12.0.0/16"]
    [violation] = run_stack(validate_egress_nat_coverage, autopilot_stack(cidrs))
    assert "pod range of cluster 'dev-gke'" in violation
    assert "(uncovered: 10.6.0.0/15)" in violation


def test_only_no_snat_destinations_count() -> None:
    stack = autopilot_stack()
    stack[2] = (EGRESS_NAT_TYPE, "p", egress_nat_policy(EVERY_RANGE, action="SNAT"))
    # Pods, services and the additional pod range: none kept by a SNAT-action policy.
    assert len(run_stack(validate_egress_nat_coverage, stack)) == 3


def test_an_unknown_destination_is_advisory_not_a_pass() -> None:
    stack = autopilot_stack()
    stack[2][2]["spec"]["destinations"] = UNKNOWN
    violations: list[str] = []
    with pytest.raises(Exception, match="cannot check until deployed"):
        run_stack(validate_egress_nat_coverage, stack, violations=violations)


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param(
            [
                (CLUSTER, "cluster", cluster() | {"datapathProvider": "ADVANCED_DATAPATH"}),
                (EGRESS_NAT_TYPE, "p", egress_nat_policy(EVERY_RANGE)),
            ],
            "EgressNATPolicy ip-masq-agent-derived (p): platform gke-autopilot but cluster "
            "'dev-gke' is GKE Standard (enableAutopilot unset)",
            id="egress-nat-on-standard",
        ),
        pytest.param(
            [(CLUSTER, "cluster", autopilot_cluster()), (CONFIGMAP, "cm", configmap())],
            "cluster 'dev-gke' is Autopilot (enableAutopilot true) but the stack delivers the "
            "list as the kube-system/ip-masq-agent ConfigMap",
            id="configmap-on-autopilot",
        ),
        pytest.param(
            [
                (CLUSTER, "cluster", cluster() | {"datapathProvider": "ADVANCED_DATAPATH"}),
                (CONFIGMAP, "cm", configmap()),
                (DAEMONSET, "ds", daemonset()),
            ],
            "our agent (platform gke-standard) on cluster 'dev-gke', datapathProvider "
            "ADVANCED_DATAPATH",
            id="our-agent-on-dataplane-v2",
        ),
    ],
)
def test_platform_against_its_cluster_is_caught(
    resources: list[tuple[str, str, dict[str, Any]]], expected: str
) -> None:
    [violation] = run_stack(validate_platform_matches_cluster, resources)
    assert expected in violation


def test_matching_platforms_pass() -> None:
    legacy = [
        (CLUSTER, "c", cluster()),
        (CONFIGMAP, "cm", configmap()),
        (DAEMONSET, "d", daemonset()),
    ]
    v2_configmap_only = [
        (CLUSTER, "c", cluster() | {"datapathProvider": "ADVANCED_DATAPATH"}),
        (CONFIGMAP, "cm", configmap()),
    ]
    assert run_stack(validate_platform_matches_cluster, legacy) == []
    assert run_stack(validate_platform_matches_cluster, v2_configmap_only) == []


def test_autopilot_stacks_write_nothing_to_kube_system() -> None:
    stack = [*autopilot_stack(), (CONFIGMAP, "cm", configmap()), (DAEMONSET, "ds", daemonset())]
    violations = run_stack(validate_autopilot_kube_system, stack)
    assert len(violations) == 2
    assert violations[0].startswith("ConfigMap kube-system/ip-masq-agent (cm): cluster 'dev-gke'")
    assert "refuses every write to kube-system" in violations[0]
    standard = [(CLUSTER, "c", cluster()), (CONFIGMAP, "cm", configmap())]
    assert run_stack(validate_autopilot_kube_system, standard) == []


@pytest.mark.parametrize(
    ("stack_file", "policy", "text"),
    [
        pytest.param(
            "Pulumi.missing-pod-range.yaml",
            "egress-nat-policy-covers-pod-ranges",
            "do not cover additional pod range of cluster 'handwired' (secondary range 'pods-2'"
            " of subnet 'gke') 10.56.0.0/16",
            id="missing-pod-range",
        ),
        pytest.param(
            "Pulumi.platform-mismatch.yaml",
            "platform-matches-cluster",
            "platform gke-autopilot but cluster 'handwired' is GKE Standard",
            id="platform-mismatch",
        ),
    ],
)
def test_make_check_fails_the_mis_wired_variants(
    stack_file: str, policy: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", str(HANDWIRED / stack_file)]) == 1
    out = capsys.readouterr().out
    assert f"mandatory  {policy}" in out
    assert text in out
    assert "FAILED: mandatory policy violated" in out


def test_make_check_passes_the_hand_wired_program_done_right(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--stack", str(HANDWIRED / "Pulumi.autopilot.yaml")]) == 0
    assert "0 finding(s); passed" in capsys.readouterr().out
