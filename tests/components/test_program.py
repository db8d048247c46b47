"""The whole program per stack under Pulumi's mocks: resources, ConfigMap, DaemonSet, render."""

import ipaddress
import runpy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness.offline import (
    REPO_ROOT,
    RegisteredResource,
    RenderResult,
    is_unknown,
    load_stack_config,
    main,
    render_stack,
    run_under_mocks,
    stacks,
)
from ip_masq_agent.config import parse_config
from pulumi_ip_masq_agent.ip_masq_agent import AGENT_HEALTH_PORT, DAEMON_SET_NAME
from pulumi_ip_masq_agent.pulumi_sdk import MockCallArgs
from pulumi_ip_masq_agent.settings import SettingsError

KUBERNETES_VERSION = "1.37.0"


def only(result: RenderResult, type_token: str) -> RegisteredResource:
    found = result.of_type(type_token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def config_document(result: RenderResult) -> str:
    return str(only(result, "kubernetes:core/v1:ConfigMap").inputs["data"]["config"])


def pod_spec(result: RenderResult) -> dict[str, Any]:
    spec: dict[str, Any] = only(result, "kubernetes:apps/v1:DaemonSet").inputs["spec"]
    template: dict[str, Any] = spec["template"]["spec"]
    return template


def render_with(stack: str, **overrides: str) -> RenderResult:
    config = load_stack_config(stack)
    config.update({f"ip-masq-agent:{k}": v for k, v in overrides.items()})
    return render_stack(stack, config=config)


@pytest.fixture(scope="module")
def rendered() -> dict[str, RenderResult]:
    return {stack: render_stack(stack) for stack in ("dev", "prod", "local", "autopilot")}


def test_every_stack_file_is_rendered(rendered: dict[str, RenderResult]) -> None:
    assert stacks() == sorted(rendered)


def test_dev_configmap_is_the_merged_union_of_the_dev_ranges(
    rendered: dict[str, RenderResult],
) -> None:
    stack = yaml.safe_load(Path("Pulumi.dev.yaml").read_text())["config"]
    ranges = [
        stack["ip-masq-agent:subnetCidr"],
        stack["ip-masq-agent:podsCidr"],
        *stack["ip-masq-agent:additionalPodsCidrs"],
        stack["ip-masq-agent:servicesCidr"],
        stack["ip-masq-agent:controlPlaneCidr"],
        stack["ip-masq-agent:ipv6UlaRange"],
        *stack["ip-masq-agent:extraNonMasqueradeCidrs"],
    ]
    document = yaml.safe_load(config_document(rendered["dev"]))
    # The stdlib's collapse per family, IPv4 first: the union, minimal and in order.
    networks = [ipaddress.ip_network(c) for c in ranges]
    assert document["nonMasqueradeCIDRs"] == [
        block.with_prefixlen
        for version in (4, 6)
        for block in ipaddress.collapse_addresses(  # type: ignore[type-var]
            n for n in networks if n.version == version
        )
    ]
    assert rendered["dev"].outputs["nonMasqueradeCidrs"] == document["nonMasqueradeCIDRs"]


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_configmap_is_accepted_by_the_agent_parser(
    rendered: dict[str, RenderResult], stack: str
) -> None:
    result = rendered[stack]
    dual_stack = "--enable-ipv6" in pod_spec(result)["containers"][0]["args"]
    config = parse_config(config_document(result), enable_ipv6=dual_stack)
    assert [str(c) for c in config.non_masquerade_cidrs] == result.outputs["nonMasqueradeCidrs"]
    assert config.warnings == ()


def test_configmap_carries_the_agent_settings(rendered: dict[str, RenderResult]) -> None:
    configmap = only(rendered["prod"], "kubernetes:core/v1:ConfigMap").inputs
    assert configmap["metadata"]["name"] == "ip-masq-agent"
    assert configmap["metadata"]["namespace"] == "kube-system"
    document = yaml.safe_load(configmap["data"]["config"])
    assert document["cidrLimit"] == 32
    assert document["resyncInterval"] == "60s"
    assert document["masqLinkLocal"] is False
    assert document["masqLinkLocalIPv6"] is False


def test_daemon_set_is_least_privilege(rendered: dict[str, RenderResult]) -> None:
    daemon_set = only(rendered["dev"], "kubernetes:apps/v1:DaemonSet").inputs
    assert daemon_set["metadata"] == {
        **daemon_set["metadata"],
        "name": DAEMON_SET_NAME,
        "namespace": "kube-system",
    }
    # GKE manages a DaemonSet named ip-masq-agent in kube-system; ours must not collide.
    assert daemon_set["metadata"]["name"] != "ip-masq-agent"
    pod = pod_spec(rendered["dev"])
    assert pod["hostNetwork"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["tolerations"] == [{"operator": "Exists"}]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["privileged"] is False
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
    assert set(container["resources"]) == {"requests", "limits"}


def test_daemon_set_mounts_and_probes(rendered: dict[str, RenderResult]) -> None:
    pod = pod_spec(rendered["dev"])
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["config"]["mountPath"] == "/etc/config"
    assert volumes["config"]["configMap"]["name"] == "ip-masq-agent"
    assert volumes["config"]["configMap"]["items"] == [{"key": "config", "path": "ip-masq-agent"}]
    assert mounts["xtables-lock"]["mountPath"] == "/run/xtables.lock"
    assert volumes["xtables-lock"]["hostPath"] == {
        "path": "/run/xtables.lock",
        "type": "FileOrCreate",
    }
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {
            "host": "127.0.0.1",
            "path": path,
            "port": AGENT_HEALTH_PORT,
        }
    # The probes reach the address the agent is told to listen on: the node's loopback only.
    assert f"--health-address=127.0.0.1:{AGENT_HEALTH_PORT}" in container["args"]


def test_agent_args_follow_the_stack(rendered: dict[str, RenderResult]) -> None:
    dev_args = pod_spec(rendered["dev"])["containers"][0]["args"]
    prod_args = pod_spec(rendered["prod"])["containers"][0]["args"]
    assert "--masq-chain=IP-MASQ-AGENT" in dev_args
    assert "--enable-ipv6" in dev_args and "--enable-ipv6" not in prod_args
    assert "--backend=nftables" in dev_args and "--backend=iptables" in prod_args


def test_built_image_is_unknown_until_deployed(rendered: dict[str, RenderResult]) -> None:
    image = pod_spec(rendered["dev"])["containers"][0]["image"]
    assert is_unknown(image)
    assert is_unknown(rendered["dev"].outputs["agentImage"])
    assert "DaemonSet spec.template.spec.containers[0].image" in rendered["dev"].unknown_paths
    built = only(rendered["dev"], "docker-build:index:Image").inputs
    assert built["push"] is True
    assert built["dockerfile"]["location"].endswith("agent_image/Dockerfile")
    assert pod_spec(rendered["local"])["containers"][0]["image"] == "localhost/ip-masq-agent:dev"
    assert not rendered["local"].of_type("docker-build:index:Image")


def test_gke_resources(rendered: dict[str, RenderResult]) -> None:
    dev = rendered["dev"]
    cluster = only(dev, "gcp:container/cluster:Cluster").inputs
    assert cluster["networkingMode"] == "VPC_NATIVE"
    assert cluster["datapathProvider"] == "LEGACY_DATAPATH"
    policy = cluster["ipAllocationPolicy"]
    assert policy["clusterSecondaryRangeName"] == "pods"
    assert policy["servicesSecondaryRangeName"] == "services"
    assert policy["stackType"] == "IPV4_IPV6"
    assert policy["additionalPodRangesConfig"]["podRangeNames"] == ["pods-1"]
    assert cluster["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.0.16/28"
    subnet = only(dev, "gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["stackType"] == "IPV4_IPV6"
    assert {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]} == {
        "pods": "10.12.0.0/16",
        "services": "10.11.0.0/20",
        "pods-1": "10.13.0.0/16",
    }
    only(dev, "gcp:compute/routerNat:RouterNat")
    only(dev, "gcp:container/nodePool:NodePool")
    provider = only(dev, "pulumi:providers:kubernetes").inputs
    assert provider["enableConfigMapMutable"] in (True, "true")
    # Built from the cluster's endpoint and CA, which exist only once the cluster does.
    assert is_unknown(provider["kubeconfig"])
    for component in ("IpMasqAgent", "GkeNetwork", "GkeCluster", "AgentImage"):
        only(dev, f"ip-masq-agent:index:{component}")


def test_public_nodes_have_no_nat() -> None:
    result = render_with("prod", privateNodes="false", controlPlaneCidr="")
    assert not result.of_type("gcp:compute/routerNat:RouterNat")
    assert (
        only(result, "gcp:container/cluster:Cluster").inputs["privateClusterConfig"][
            "enablePrivateNodes"
        ]
        is False
    )


@pytest.mark.parametrize(("key", "value"), [("dataplane", "v2"), ("deployAgent", "false")])
def test_configmap_only(key: str, value: str) -> None:
    result = render_with("dev", **{key: value})
    assert not result.of_type("kubernetes:apps/v1:DaemonSet")
    assert not result.of_type("docker-build:index:Image")
    assert result.outputs["daemonSetName"] is None
    only(result, "kubernetes:core/v1:ConfigMap")
    if key == "dataplane":
        assert (
            only(result, "gcp:container/cluster:Cluster").inputs["datapathProvider"]
            == "ADVANCED_DATAPATH"
        )


def test_changing_a_range_changes_the_configmap_only(rendered: dict[str, RenderResult]) -> None:
    changed = render_with("prod", servicesCidr="10.70.0.0/20")
    before, after = rendered["prod"], changed
    assert "10.70.0.0/20" in yaml.safe_load(config_document(after))["nonMasqueradeCIDRs"]
    assert config_document(before) != config_document(after)
    assert (
        only(before, "kubernetes:apps/v1:DaemonSet").inputs
        == only(after, "kubernetes:apps/v1:DaemonSet").inputs
    )


SUBNET = "projects/shared-vpc/regions/europe-west4/subnetworks/gke"


def live_subnet(args: MockCallArgs) -> dict[str, Any]:
    assert args.token == "gcp:compute/getSubnetwork:getSubnetwork"
    assert (args.args["project"], args.args["region"], args.args["name"]) == (
        "shared-vpc",
        "europe-west4",
        "gke",
    )
    return {
        "ipCidrRange": "10.20.0.0/22",
        "network": "projects/shared-vpc/global/networks/main",
        "selfLink": f"https://www.googleapis.com/compute/v1/{SUBNET}",
        "secondaryIpRanges": [
            {"rangeName": "gke-pods", "ipCidrRange": "10.24.0.0/14"},
            {"rangeName": "gke-services", "ipCidrRange": "10.20.16.0/20"},
            {"rangeName": "gke-pods-extra", "ipCidrRange": "10.28.0.0/14"},
        ],
    }


def adopted_config(**overrides: str) -> dict[str, str]:
    config = {
        "ip-masq-agent:clusterName": "adopted",
        "ip-masq-agent:existingSubnet": SUBNET,
        "ip-masq-agent:podsRangeName": "gke-pods",
        "ip-masq-agent:servicesRangeName": "gke-services",
        "ip-masq-agent:controlPlaneCidr": "172.16.8.0/28",
        "ip-masq-agent:extraNonMasqueradeCidrs": '["192.168.10.0/24"]',
        "ip-masq-agent:image": "registry.example/ip-masq-agent@sha256:" + "0" * 64,
    }
    config.update({f"ip-masq-agent:{k}": v for k, v in overrides.items()})
    return config


def test_adopted_subnet_ranges_are_read_from_the_live_subnet() -> None:
    result = render_stack("adopted", config=adopted_config(), call=live_subnet)
    assert not result.of_type("gcp:compute/subnetwork:Subnetwork")
    assert not result.of_type("gcp:compute/network:Network")
    assert result.outputs["nonMasqueradeCidrs"] == [
        "10.20.0.0/22",
        "10.20.16.0/20",
        "10.24.0.0/13",
        "172.16.8.0/28",
        "192.168.10.0/24",
    ]
    cluster = only(result, "gcp:container/cluster:Cluster").inputs
    assert cluster["location"] == "europe-west4"
    assert cluster["subnetwork"].endswith(SUBNET)
    assert cluster["ipAllocationPolicy"]["additionalPodRangesConfig"]["podRangeNames"] == [
        "gke-pods-extra"
    ]
    nat = only(result, "gcp:compute/routerNat:RouterNat").inputs
    assert nat["subnetworks"][0]["name"].endswith(SUBNET)


def test_adopted_subnet_without_the_named_range_fails_in_one_line() -> None:
    with pytest.raises(
        ValueError,
        match=r"^GkeNetwork network: pods_range_name: .* has no secondary range 'pods' "
        r"\(it has: gke-pods, gke-pods-extra, gke-services\)$",
    ):
        render_stack("adopted", config=adopted_config(podsRangeName="pods"), call=live_subnet)


# Every range key of the table made malformed: key, bad value, what the error names.
MALFORMED_RANGES = [
    ("subnetCidr", "10.10.0.1/20", "ip-masq-agent:subnetCidr: '10.10.0.1/20'"),
    ("podsCidr", "10.12.0.0/33", "ip-masq-agent:podsCidr: '10.12.0.0/33'"),
    ("servicesCidr", "services", "ip-masq-agent:servicesCidr: 'services'"),
    (
        "additionalPodsCidrs",
        '["10.13.0.0/16", "10.14.0.0"]',
        "ip-masq-agent:additionalPodsCidrs[1]: '10.14.0.0'",
    ),
    ("controlPlaneCidr", "172.16.0.17/28", "ip-masq-agent:controlPlaneCidr: '172.16.0.17/28'"),
    ("ipv6UlaRange", "fd20:a:b::1/48", "ip-masq-agent:ipv6UlaRange: 'fd20:a:b::1/48'"),
    (
        "extraNonMasqueradeCidrs",
        '["10.200.0.0/16", "0.0.0.0/0"]',
        "ip-masq-agent:extraNonMasqueradeCidrs[1]: '0.0.0.0/0'",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "named"), MALFORMED_RANGES, ids=[m[0] for m in MALFORMED_RANGES]
)
def test_malformed_range_fails_before_any_resource_is_registered(
    key: str, value: str, named: str
) -> None:
    config = load_stack_config("dev")
    config[f"ip-masq-agent:{key}"] = value
    errors: list[str] = []

    def program() -> None:
        # The program's own failure, caught inside it, so the run's registrations stay visible.
        try:
            runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")
        except SettingsError as err:
            errors.append(str(err))

    result = run_under_mocks(program, stack="dev", config=config)
    assert result.resources == ()
    [message] = errors
    assert message.startswith(named) and "\n" not in message


def test_a_misspelt_key_fails_instead_of_being_ignored() -> None:
    # Ignored, the peered range would be masqueraded without a word.
    config = load_stack_config("dev")
    config["ip-masq-agent:extraNonMasqueradeCIDRs"] = '["10.1.0.0/16"]'
    with pytest.raises(
        SettingsError,
        match=r"^ip-masq-agent:extraNonMasqueradeCIDRs: unknown config key "
        r"\(did you mean extraNonMasqueradeCidrs\?\)$",
    ):
        render_stack("dev", config=config)


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_rendered_manifests_validate_against_kubernetes(
    rendered: dict[str, RenderResult], stack: str
) -> None:
    objects = rendered[stack].kubernetes_objects()
    assert objects
    for resource in objects:
        if resource.inputs["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # the Operator's CRDs: tests/monitoring/test_rendered_monitoring.py
        kubernetes_validate.validate(resource.inputs, KUBERNETES_VERSION, strict=True)


def test_make_render_writes_one_file_per_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "dev", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in (tmp_path / "dev").iterdir())
    assert files == [
        "configmap-kube-system-ip-masq-agent.yaml",
        f"daemonset-kube-system-{DAEMON_SET_NAME}.yaml",
    ]
    out = capsys.readouterr().out
    assert "10.12.0.0/15" in out
    assert "unknown until deployed: DaemonSet spec.template.spec.containers[0].image" in out
    written = yaml.safe_load((tmp_path / "dev" / files[0]).read_text())
    (configmap,) = [
        r for r in render_stack("dev").kubernetes_objects() if r.inputs["kind"] == "ConfigMap"
    ]
    assert written == configmap.inputs
    assert "config: |" in (tmp_path / "dev" / files[0]).read_text()


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        (
            "podsCidr=10.12.0.1/16",
            "render dev: ip-masq-agent:podsCidr: '10.12.0.1/16' has host bits set",
        ),
        (
            'extraNonMasqueradeCidrs=["10.200.0.0/33"]',
            "render dev: ip-masq-agent:extraNonMasqueradeCidrs[0]: '10.200.0.0/33' is not a CIDR",
        ),
        (
            "cidrLimit=2",
            "render dev: cidrLimit: the ranges merge into 6 nonMasqueradeCIDRs, "
            "4 more than cidrLimit 2",
        ),
    ],
)
def test_make_render_with_bad_config_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], assignment: str, message: str
) -> None:
    assert main(["--stack", "dev", "--out", str(tmp_path), "--set", assignment]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1
    assert captured.out == ""
    assert not (tmp_path / "dev").exists()


def test_render_of_a_missing_stack_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "nosuchstack", "--out", str(tmp_path)]) == 2
    assert "Pulumi.nosuchstack.yaml: no such stack file" in capsys.readouterr().err
    assert not (tmp_path / "nosuchstack").exists()
