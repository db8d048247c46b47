"""GKE Autopilot: one EgressNATPolicy holding the derived ranges, nothing in kube-system."""

from pathlib import Path
from typing import Any

import pulumi
import pytest

from pulumi_ip_masq_agent.ip_masq_agent import (
    AGENT_ONLY_ARGUMENTS,
    EGRESS_NAT_POLICY_NAME,
    IpMasqAgent,
    IpMasqAgentArgs,
)
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range
from testbed.harness.offline import RenderResult, load_stack_config, render_stack, run_under_mocks
from testbed.sandbox.autopilot import autopilot_demo
from tests.monitoring.crd_schema import load_crd_schemas, validation_errors

CRDS = Path(__file__).with_name("crds")
POLICY_TYPE = "kubernetes:networking.gke.io/v1:EgressNATPolicy"
RANGES = [
    Range(cidr="10.0.0.0/20", label="nodes"),
    Range(cidr="10.4.0.0/14", label="pods"),
    Range(cidr="10.0.16.0/20", label="services"),
    Range(cidr="192.168.50.0/24", label="on-prem VPN"),
]


def run(extra: dict[str, Any]) -> RenderResult:
    def program() -> None:
        args: IpMasqAgentArgs = {"ranges": RANGES, "platform": Platform.GKE_AUTOPILOT}
        args.update(extra)  # type: ignore[typeddict-item]
        agent = IpMasqAgent("agent", args)
        pulumi.export("cidrs", agent.non_masquerade_cidrs)
        pulumi.export("policy", agent.egress_nat_policy_name)
        pulumi.export("configMap", agent.config_map_name)
        pulumi.export("daemonSet", agent.daemon_set_name)

    return run_under_mocks(program, stack="test", config={})


def kube_system(result: RenderResult) -> list[str]:
    return [
        r.type
        for r in result.kubernetes_objects()
        if (r.inputs.get("metadata") or {}).get("namespace") == "kube-system"
    ]


def test_component_renders_one_egress_nat_policy_and_nothing_in_kube_system() -> None:
    result = run({})
    [policy] = result.of_type(POLICY_TYPE)
    assert policy.inputs["metadata"]["name"] == EGRESS_NAT_POLICY_NAME
    assert "namespace" not in policy.inputs["metadata"]  # cluster-scoped
    assert policy.inputs["spec"] == {
        "action": "NoSNAT",
        "destinations": [
            {"cidr": "10.0.0.0/19"},
            {"cidr": "10.4.0.0/14"},
            {"cidr": "192.168.50.0/24"},
        ],
    }
    assert [d["cidr"] for d in policy.inputs["spec"]["destinations"]] == result.outputs["cidrs"]
    assert kube_system(result) == []
    assert [r.type for r in result.kubernetes_objects()] == [POLICY_TYPE]
    assert result.outputs["policy"] == EGRESS_NAT_POLICY_NAME
    assert result.outputs["configMap"] is None
    assert result.outputs["daemonSet"] is None


def test_rendered_policy_is_valid_against_the_documented_schema() -> None:
    [policy] = run({}).of_type(POLICY_TYPE)
    assert validation_errors(policy.inputs, load_crd_schemas(CRDS)) == []


def test_schema_catches_what_gke_would_refuse() -> None:
    [policy] = run({}).of_type(POLICY_TYPE)
    schemas = load_crd_schemas(CRDS)
    wrong_action = {**policy.inputs, "spec": {**policy.inputs["spec"], "action": "SNAT"}}
    typo = {**policy.inputs, "spec": {**policy.inputs["spec"], "destination": []}}
    assert any("spec.action" in e for e in validation_errors(wrong_action, schemas))
    assert validation_errors(typo, schemas)


ARGUMENT_VALUES: dict[str, Any] = {
    "image": "registry.example/ip-masq-agent:1",
    "backend": "nftables",
    "resync_interval": "30s",
    "cidr_limit": 10,
    "masq_link_local": True,
    "masq_link_local_ipv6": True,
    "force_masquerade_cidrs": ["192.168.50.0/26"],
    "monitoring": "podmonitor",
    "monitoring_labels": {"team": "net"},
    "grafana_dashboard": True,
}


@pytest.mark.parametrize("key", AGENT_ONLY_ARGUMENTS)
def test_agent_only_arguments_are_errors_naming_the_argument(key: str) -> None:
    with pytest.raises(ValueError) as caught:
        run({key: ARGUMENT_VALUES[key]})
    assert str(caught.value).startswith(f"IpMasqAgent agent: {key} is an agent setting")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("key", ["deploy_daemon_set", "dataplane"])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_deprecated_switches_cannot_put_anything_in_kube_system(key: str) -> None:
    value = {"deploy_daemon_set": True, "dataplane": "legacy"}[key]
    with pytest.raises(ValueError, match="contradicts the deprecated"):
        run({key: value})


def test_the_autopilot_stack_renders_the_policy_from_its_cluster_ranges() -> None:
    result = render_stack("autopilot", config=load_stack_config("autopilot"))
    [policy] = result.of_type(POLICY_TYPE)
    destinations = [d["cidr"] for d in policy.inputs["spec"]["destinations"]]
    assert destinations == result.outputs["nonMasqueradeCidrs"]
    # Pods 10.22.0.0/16 and the additional 10.23.0.0/16 merge; nodes, services, control plane
    # and the peered VPC are kept too.
    assert destinations == [
        "10.20.0.0/20",
        "10.21.0.0/20",
        "10.22.0.0/15",
        "10.201.0.0/16",
        "172.16.0.32/28",
    ]
    assert kube_system(result) == []
    assert result.outputs["platform"] == "gke-autopilot"
    [cluster] = result.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["enableAutopilot"] is True
    assert cluster.inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert not result.of_type("gcp:container/nodePool:NodePool")
    assert not result.of_type("docker-build:index:Image")
    assert validation_errors(policy.inputs, load_crd_schemas(CRDS)) == []


def test_demo_of_the_autopilot_stack_renders_checks_and_says_why_no_sandbox() -> None:
    said: list[str] = []
    assert autopilot_demo("autopilot", said.append) == 0
    text = "\n".join(said)
    assert "kind: EgressNATPolicy" in text
    assert "in kube-system: nothing" in text
    assert "policy check: 0 finding(s); passed" in text
    assert "The GKE Autopilot dataplane cannot run in this sandbox" in text
    assert autopilot_demo("local", said.append) is None  # any other stack: the sandbox demo
