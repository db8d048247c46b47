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
import pytest
import yaml
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from harness.offline import RenderResult, run_under_mocks
from ip_masq_agent.config import parse_config
from pulumi_ip_masq_agent import __version__
from pulumi_ip_masq_agent.provider import PACKAGE_NAME, provider, schema

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
        for name in ("AgentImage", "GkeCluster", "GkeNetwork", "IpMasqAgent")
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


def construct(inputs: dict[str, Any]) -> RenderResult:
    """`construct` as the provider host runs it for another language's SDK: camelCase inputs."""

    def program() -> None:
        result = provider().construct("agent", f"{PACKAGE_NAME}:index:IpMasqAgent", inputs)
        pulumi.export("state", result.state)

    return run_under_mocks(program, stack="test", config={})


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
