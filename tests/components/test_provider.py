"""The component provider other languages use: its schema, construct, and the host process."""

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pulumi_gcp as gcp
import pytest
import yaml
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from ip_masq_agent.config import parse_config
from pulumi_ip_masq_agent import IpMasqAgent, Range, __version__, concat_ranges, gke_ranges
from pulumi_ip_masq_agent.provider import PACKAGE_NAME, provider, schema
from pulumi_ip_masq_agent.pulumi_sdk import MockCallArgs
from testbed.harness.offline import CallHandler, RenderResult, run_under_mocks

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = ROOT / "provider"
COMMITTED_SCHEMA = PROVIDER_DIR / "schema.json"
REGENERATE = "make schema"


def committed_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMMITTED_SCHEMA.read_text())
    return loaded


def test_schema_is_the_committed_one() -> None:
    # An API change shows up in review as a schema.json diff.
    assert schema() == committed_schema(), f"the component API changed: run `{REGENERATE}`"


def test_every_exported_component_is_in_the_schema() -> None:
    resources = committed_schema()["resources"]
    assert sorted(resources) == [
        f"{PACKAGE_NAME}:index:{name}"
        for name in ("AgentImage", "GkeCluster", "GkeIpMasqAgent", "GkeNetwork", "IpMasqAgent")
    ]
    assert committed_schema()["version"] == __version__
    agent = resources[f"{PACKAGE_NAME}:index:IpMasqAgent"]
    assert agent["requiredInputs"] == ["ranges"]
    # The arguments that decide which resources exist are plain in every language.
    assert agent["inputProperties"]["platform"]["plain"] is True
    assert agent["inputProperties"]["deployDaemonSet"]["plain"] is True
    assert agent["inputProperties"]["dataplane"]["plain"] is True
    platforms = committed_schema()["types"][f"{PACKAGE_NAME}:index:Platform"]["enum"]
    assert [p["value"] for p in platforms] == [
        "gke-standard",
        "gke-managed-agent",
        "gke-dataplane-v2",
        "gke-autopilot",
    ]
    cluster = resources[f"{PACKAGE_NAME}:index:GkeCluster"]
    assert cluster["inputProperties"]["enableAutopilot"]["plain"] is True


def construct(
    inputs: dict[str, Any], component: str = "IpMasqAgent", call: CallHandler | None = None
) -> RenderResult:
    """`construct` as the provider host runs it for another language's SDK: camelCase inputs;
    `call` answers the component's lookups."""

    def program() -> None:
        result = provider().construct("agent", f"{PACKAGE_NAME}:index:{component}", inputs)
        pulumi.export("state", result.state)

    return run_under_mocks(program, stack="test", config={}, call=call)


def test_construct_with_camel_case_inputs() -> None:
    result = construct(
        {
            "ranges": [
                {"cidr": "10.0.0.0/20", "label": "nodes"},
                {"cidr": "10.4.0.0/14", "label": "pods", "origin": "TypeScript program"},
                {"cidr": "10.0.16.0/20", "label": "services"},
                {"cidr": "fd20:a:b::/48", "label": "VPC ULA"},
            ],
            "image": "registry.example/ip-masq-agent@sha256:" + "1" * 64,
            "cidrLimit": 10,
            "resyncInterval": "5m",
            "masqLinkLocal": True,
            "backend": "nftables",
            "platform": "gke-standard",
            "enableIpv6": True,
        }
    )
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    text = configmap.inputs["data"]["config"]
    assert yaml.safe_load(text) == {
        "nonMasqueradeCIDRs": ["10.0.0.0/19", "10.4.0.0/14", "fd20:a:b::/48"],
        "masqLinkLocal": True,
        "masqLinkLocalIPv6": False,
        "resyncInterval": "5m",
        "cidrLimit": 10,
    }
    assert parse_config(text, enable_ipv6=True).cidr_limit == 10
    (daemon_set,) = result.of_type("kubernetes:apps/v1:DaemonSet")
    (container,) = daemon_set.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/ip-masq-agent@sha256:" + "1" * 64
    assert "--backend=nftables" in container["args"]
    assert "--enable-ipv6" in container["args"]
    state = result.outputs["state"]
    assert state["nonMasqueradeCidrs"] == ["10.0.0.0/19", "10.4.0.0/14", "fd20:a:b::/48"]
    assert state["daemonSetName"] == daemon_set.inputs["metadata"]["name"]


@pytest.mark.parametrize(
    "inputs",
    [{"platform": "gke-dataplane-v2"}, {"dataplane": "v2"}],
    ids=["platform", "deprecated"],
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_construct_configmap_only_on_dataplane_v2(inputs: dict[str, Any]) -> None:
    result = construct({"ranges": [{"cidr": "10.4.0.0/14", "label": "pods"}], **inputs})
    assert not result.of_type("kubernetes:apps/v1:DaemonSet")
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    assert yaml.safe_load(configmap.inputs["data"]["config"])["nonMasqueradeCIDRs"] == [
        "10.4.0.0/14"
    ]


def test_provider_host_starts_prints_its_port_and_serves_the_schema() -> None:
    # Started from its own directory as the engine starts a plugin: the argument is the
    # engine's address, which nothing here dials (no call needs the engine).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with subprocess.Popen(
        [sys.executable, "__main__.py", "127.0.0.1:1"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as host:
        try:
            assert host.stdout is not None
            assert host.stderr is not None
            # Bounded: a host that neither prints nor exits fails the test, not the suite.
            ready, _, _ = select.select([host.stdout], [], [], 60)
            assert ready, "the provider host printed nothing within 60 s"
            line = host.stdout.readline()
            assert line.strip().isdecimal(), f"no port printed: {line!r} {host.stderr.read()!r}"
            port = int(line)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = provider_pb2_grpc.ResourceProviderStub(channel)
                reply = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30)
            assert json.loads(reply.schema) == committed_schema()
        finally:
            host.terminate()
            host.wait(timeout=10)


def test_gke_ip_masq_agent_passes_ip_masq_agents_arguments_as_they_are() -> None:
    # Its own three, then IpMasqAgent's (but `ranges` and the deprecated two) with the same
    # type and description: the schema takes descriptions from each class's own source.
    resources = committed_schema()["resources"]
    agent = resources[f"{PACKAGE_NAME}:index:IpMasqAgent"]["inputProperties"]
    derived = resources[f"{PACKAGE_NAME}:index:GkeIpMasqAgent"]
    own = {"subnetwork", "cluster", "extraRanges"}
    passed = {k: v for k, v in derived["inputProperties"].items() if k not in own}
    assert set(passed) == set(agent) - {"ranges", "dataplane", "deployDaemonSet"}
    assert all(passed[key] == agent[key] for key in passed)
    assert derived["requiredInputs"] == ["subnetwork"]
    outputs = resources[f"{PACKAGE_NAME}:index:IpMasqAgent"]["properties"]
    assert {k: v for k, v in derived["properties"].items() if k != "ranges"} == outputs


# One subnet and cluster, as a Python program's resources and as the lookups answer them.
REGION = "europe-west1"
SUBNET_PATH = f"projects/net-host/regions/{REGION}/subnetworks/gke"
CLUSTER_PATH = f"projects/apps/locations/{REGION}/clusters/gke"
PRIMARY = "10.30.0.0/22"
SECONDARY = {"pods": "10.32.0.0/14", "services": "10.30.16.0/20", "pods-1": "10.40.0.0/14"}
INTERNAL_IPV6 = "fd20:aa:bb:1::/64"
CONTROL_PLANE = "172.16.4.0/28"
EXTRA = [{"cidr": "192.168.50.0/24", "label": "on-prem VPN"}]
IMAGE = "registry.example/ip-masq-agent@sha256:" + "2" * 64


def gcp_lookups(*, dual_stack: bool, private: bool) -> CallHandler:
    """The mocks' answers to getSubnetwork and getCluster for SUBNET_PATH and CLUSTER_PATH."""

    def call(args: MockCallArgs) -> dict[str, Any]:
        asked = (args.args.get("project"), args.args.get("region") or args.args.get("location"))
        if args.token == "gcp:compute/getSubnetwork:getSubnetwork":
            assert (*asked, args.args["name"]) == ("net-host", REGION, "gke")
            subnet: dict[str, Any] = {
                "ipCidrRange": PRIMARY,
                "secondaryIpRanges": [
                    {"rangeName": name, "ipCidrRange": cidr} for name, cidr in SECONDARY.items()
                ],
                "stackType": "IPV4_IPV6" if dual_stack else "IPV4_ONLY",
            }
            if dual_stack:
                subnet |= {"ipv6AccessType": "INTERNAL", "internalIpv6Prefix": INTERNAL_IPV6}
            return subnet
        assert args.token == "gcp:container/getCluster:getCluster"
        assert (*asked, args.args["name"]) == ("apps", REGION, "gke")
        config = {
            "enablePrivateNodes": private,
            "masterIpv4CidrBlock": CONTROL_PLANE if private else "",
        }
        return {"privateClusterConfigs": [config]}

    return call


def python_path(settings: dict[str, Any], *, dual_stack: bool, private: bool) -> RenderResult:
    """IpMasqAgent(ranges=gke_ranges(subnetwork, cluster) + EXTRA): the same subnet and cluster."""

    def program() -> None:
        ipv6: dict[str, Any] = (
            {
                "stack_type": "IPV4_IPV6",
                "ipv6_access_type": "INTERNAL",
                "internal_ipv6_prefix": INTERNAL_IPV6,
            }
            if dual_stack
            else {}
        )
        subnet = gcp.compute.Subnetwork(
            "gke",
            region=REGION,
            network="vpc",
            ip_cidr_range=PRIMARY,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=name, ip_cidr_range=cidr)
                for name, cidr in SECONDARY.items()
            ],
            **ipv6,
        )
        cluster = gcp.container.Cluster(
            "gke",
            location=REGION,
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, master_ipv4_cidr_block=CONTROL_PLANE
            )
            if private
            else None,
        )
        extra = [Range(cidr=r["cidr"], label=r["label"]) for r in EXTRA]
        ranges = concat_ranges(gke_ranges(subnet, cluster), extra)
        IpMasqAgent("agent", {"ranges": ranges, **settings})  # type: ignore[typeddict-item]

    return run_under_mocks(program, stack="test", config={})


@pytest.mark.parametrize(
    ("subnetwork", "cluster", "dual_stack", "private"),
    [
        (SUBNET_PATH, CLUSTER_PATH, False, True),
        (
            f"https://www.googleapis.com/compute/v1/{SUBNET_PATH}",
            f"https://container.googleapis.com/v1/{CLUSTER_PATH}",
            True,
            False,
        ),
    ],
    ids=["ids-private-cluster", "self-links-dual-stack-public-cluster"],
)
def test_gke_ip_masq_agent_from_schema_inputs_renders_the_python_paths_configmap(
    subnetwork: str, cluster: str, dual_stack: bool, private: bool
) -> None:
    derived = construct(
        {
            "subnetwork": subnetwork,
            "cluster": cluster,
            "extraRanges": EXTRA,
            "image": IMAGE,
            "enableIpv6": dual_stack,
            "masqLinkLocal": True,
        },
        component="GkeIpMasqAgent",
        call=gcp_lookups(dual_stack=dual_stack, private=private),
    )
    python = python_path(
        {"image": IMAGE, "enable_ipv6": dual_stack, "masq_link_local": True},
        dual_stack=dual_stack,
        private=private,
    )
    for kind in ("kubernetes:core/v1:ConfigMap", "kubernetes:apps/v1:DaemonSet"):
        (ours,) = derived.of_type(kind)
        (theirs,) = python.of_type(kind)
        assert ours.inputs == theirs.inputs
    (configmap,) = derived.of_type("kubernetes:core/v1:ConfigMap")
    cidrs = yaml.safe_load(configmap.inputs["data"]["config"])["nonMasqueradeCIDRs"]
    assert (CONTROL_PLANE in cidrs) is private
    assert (INTERNAL_IPV6 in cidrs) is dual_stack
    state = derived.outputs["state"]
    assert state["nonMasqueradeCidrs"] == cidrs
    # The same labels as gke_ranges; the origin names the id or self link given.
    assert [(r["label"], r["origin"]) for r in state["ranges"][:2]] == [
        ("primary range", f"Subnetwork {subnetwork}"),
        ("secondary range 'pods'", f"Subnetwork {subnetwork}"),
    ]
    assert state["ranges"][-1] == EXTRA[0]


def test_gke_ip_masq_agent_names_a_bad_id_before_registering_anything() -> None:
    with pytest.raises(Exception, match=r"GkeIpMasqAgent agent: cluster: 'gke' is not an id"):
        construct(
            {"subnetwork": SUBNET_PATH, "cluster": "gke", "image": IMAGE},
            component="GkeIpMasqAgent",
            call=gcp_lookups(dual_stack=False, private=False),
        )
