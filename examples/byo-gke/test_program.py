"""This program's tests, as a platform team writes them: rendered offline under Pulumi's mocks
and checked by the package's policy pack, with pulumi_ip_masq_agent.testing only
(`pip install "pulumi-ip-masq-agent[gcp,testing]" pytest`, then `pytest` here)."""

import ipaddress
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

import pulumi_ip_masq_agent
from pulumi_ip_masq_agent import AgentImage, IpMasqAgent
from pulumi_ip_masq_agent.testing import ProgramReport, check_program, render_program

PROGRAM = Path(__file__).resolve().parent
IMAGE = "registry.example/ip-masq-agent@sha256:" + "2" * 64
# The program's own ranges: subnet, its secondary ranges, control plane, the on-prem VPN.
RANGES = ["10.30.0.0/22", "10.32.0.0/14", "10.30.16.0/20", "172.16.4.0/28", "192.168.50.0/24"]
MERGED = [str(n) for n in ipaddress.collapse_addresses(ipaddress.ip_network(r) for r in RANGES)]
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def checked(**config: Any) -> ProgramReport:
    report = check_program(PROGRAM, config=config)
    # What `pulumi preview --policy-pack` would refuse, listed in the failure.
    assert not report.mandatory, report.summary()
    return report


def test_configmap_is_the_merged_union_of_the_ranges() -> None:
    report = checked(image=IMAGE)
    [configmap] = report.result.of_type(CONFIG_MAP)
    document = yaml.safe_load(configmap.inputs["data"]["config"])
    assert document["nonMasqueradeCIDRs"] == MERGED == report.result.outputs["nonMasqueradeCidrs"]
    assert report.result.of_type(DAEMON_SET)


@pytest.mark.parametrize("platform", ["gke-dataplane-v2", "gke-managed-agent"])
def test_no_daemon_set(platform: str) -> None:
    result = checked(platform=platform).result
    assert result.of_type(DAEMON_SET) == []
    assert len(result.of_type(CONFIG_MAP)) == 1
    assert result.outputs["daemonSetName"] is None


def test_autopilot_is_one_egress_nat_policy_and_nothing_in_kube_system() -> None:
    result = checked(platform="gke-autopilot").result
    [policy] = result.kubernetes_objects()
    assert (policy.inputs["apiVersion"], policy.inputs["kind"]) == (
        "networking.gke.io/v1",
        "EgressNATPolicy",
    )
    assert "namespace" not in policy.inputs["metadata"]
    assert policy.inputs["metadata"]["name"] == result.outputs["egressNatPolicyName"]
    assert policy.inputs["spec"] == {
        "action": "NoSNAT",
        "destinations": [{"cidr": cidr} for cidr in MERGED],
    }
    assert result.outputs["nonMasqueradeCidrs"] == MERGED
    assert result.of_type(CONFIG_MAP) == [] and result.of_type(DAEMON_SET) == []
    [cluster] = result.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["enableAutopilot"] is True
    assert cluster.inputs["datapathProvider"] == "ADVANCED_DATAPATH"


def test_an_output_for_deploy_daemon_set_is_a_type_error() -> None:
    # A function is a program too: one component, no project directory.
    def program() -> None:
        IpMasqAgent(
            "agent",
            {
                "ranges": [{"cidr": "10.0.0.0/8", "label": "pods"}],  # type: ignore[list-item]
                "deploy_daemon_set": pulumi.Output.from_input(True),
                "image": "x",
            },
        )

    with pytest.raises(TypeError, match="deploy_daemon_set must be a plain bool"):
        render_program(program)


def test_agent_image_builds_the_context_shipped_inside_the_package() -> None:
    def program() -> None:
        AgentImage("image", {"location": "europe-west1"})

    result = render_program(program, config={"gcp:project": "p"})
    [build] = result.of_type("docker-build:index:Image")
    context = Path(build.inputs["context"]["location"])
    assert context == Path(pulumi_ip_masq_agent.__file__).parent / "agent_context"
    assert context.is_dir() and not context.is_symlink()  # a real copy inside the install
    assert Path(build.inputs["dockerfile"]["location"]) == context / "Dockerfile"
    assert (context / "Dockerfile").is_file() and (context / "src/ip_masq_agent/cli.py").is_file()
    assert build.inputs["platforms"] == ["linux/amd64", "linux/arm64"]


# Mistakes a platform team makes in its own program, and the one line each gets before any
# resource is registered.
MISTAKES = {
    "schema-spelling": (
        {"deployDaemonSet": False},
        "deployDaemonSet: unknown argument (did you mean deploy_daemon_set?)",
    ),
    "ranges-a-string": ({"ranges": "10.0.0.0/8"}, "ranges: '10.0.0.0/8' is a str, not a list"),
    "empty-image": ({"image": ""}, "image: '' is empty or not a string"),
    "unknown-backend": ({"backend": "nft"}, "backend: 'nft' is not one of auto, iptables"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistaken_argument_is_one_line_before_anything_is_registered(mistake: str) -> None:
    overrides, message = MISTAKES[mistake]
    errors: list[str] = []

    def program() -> None:
        given = {"ranges": [{"cidr": "10.0.0.0/8", "label": "pods"}], "image": IMAGE, **overrides}
        try:
            IpMasqAgent("agent", given)  # type: ignore[arg-type]
        except ValueError as err:
            errors.append(str(err))

    result = render_program(program)
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert errors[0].startswith(f"IpMasqAgent agent: {message}"), errors
    assert result.resources == ()
