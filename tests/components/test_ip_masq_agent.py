"""The IpMasqAgent component alone, under Pulumi's mocks (fresh context and event loop per run)."""

from collections.abc import Callable
from typing import Any

import pulumi
import pytest
import yaml

from harness.offline import RenderError, RenderResult, run_under_mocks
from ip_masq_agent.backends.registry import default_backend_registry
from ip_masq_agent.config import MAX_PLANNED_CIDRS, ConfigError, parse_config
from ip_masq_agent.flags import parse_flags
from pulumi_ip_masq_agent.cidrs import CidrError
from pulumi_ip_masq_agent.ip_masq_agent import (
    AGENT_HEALTH_PORT,
    CONFIG_DIR,
    CONFIG_MAP_NAME,
    DAEMON_SET_NAME,
    Dataplane,
    IpMasqAgent,
    IpMasqAgentArgs,
    agent_args,
)
from pulumi_ip_masq_agent.ranges import Range, concat_ranges


def three_ranges() -> list[Range]:
    return [
        Range(cidr="10.0.0.0/20", label="nodes"),
        Range(cidr="10.4.0.0/14", label="pods"),
        Range(cidr="10.0.16.0/20", label="services"),
    ]


def args(**overrides: Any) -> IpMasqAgentArgs:
    base: IpMasqAgentArgs = {
        "ranges": three_ranges(),
        "image": "registry.example/ip-masq-agent:1",
    }
    base.update(overrides)  # type: ignore[typeddict-item]
    return base


def run(make_args: Callable[[], IpMasqAgentArgs]) -> RenderResult:
    # Outputs belong to the run's event loop: build the args inside the program.
    def program() -> None:
        agent = IpMasqAgent("agent", make_args())
        pulumi.export("cidrs", agent.non_masquerade_cidrs)
        pulumi.export("configMapName", agent.config_map_name)
        pulumi.export("daemonSetName", agent.daemon_set_name)

    return run_under_mocks(program, stack="test", config={})


def document(result: RenderResult) -> dict[str, Any]:
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    loaded: dict[str, Any] = yaml.safe_load(configmap.inputs["data"]["config"])
    return loaded


def test_configmap_document_from_output_ranges() -> None:
    # Ranges given as Outputs, as the network component hands them over.
    def make_args() -> IpMasqAgentArgs:
        ranges = concat_ranges(
            pulumi.Output.from_input([Range(cidr="10.0.0.0/20", label="nodes")]),
            [Range(cidr=pulumi.Output.from_input("10.4.0.0/14"), label="pods")],
            [Range(cidr="10.0.16.0/20", label="services")],
        )
        return args(ranges=ranges, masq_link_local=True, resync_interval="5m", cidr_limit=10)

    result = run(make_args)
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    text = configmap.inputs["data"]["config"]
    assert yaml.safe_load(text) == {
        "nonMasqueradeCIDRs": ["10.0.0.0/19", "10.4.0.0/14"],
        "masqLinkLocal": True,
        "masqLinkLocalIPv6": False,
        "resyncInterval": "5m",
        "cidrLimit": 10,
    }
    parsed = parse_config(text, enable_ipv6=False)
    assert parsed.resync_interval == 300
    assert result.outputs == {
        "cidrs": ["10.0.0.0/19", "10.4.0.0/14"],
        "configMapName": CONFIG_MAP_NAME,
        "daemonSetName": DAEMON_SET_NAME,
    }
    (component,) = result.of_type("ip-masq-agent:index:IpMasqAgent")
    assert component.name == "agent"


def test_only_ranges_and_image_given_means_upstream_defaults() -> None:
    result = run(args)
    assert document(result) == {
        "nonMasqueradeCIDRs": ["10.0.0.0/19", "10.4.0.0/14"],
        "masqLinkLocal": False,
        "masqLinkLocalIPv6": False,
        "resyncInterval": "60s",
        "cidrLimit": 64,
    }
    (daemon_set,) = result.of_type("kubernetes:apps/v1:DaemonSet")
    (container,) = daemon_set.inputs["spec"]["template"]["spec"]["containers"]
    assert container["args"] == agent_args(enable_ipv6=False, backend="auto")


def test_ipv6_is_inferred_from_the_ranges() -> None:
    ranges = [*three_ranges(), Range(cidr="fd20:a:b::/48", label="VPC ULA")]
    result = run(lambda: args(ranges=ranges))
    assert document(result)["nonMasqueradeCIDRs"][-1] == "fd20:a:b::/48"
    (daemon_set,) = result.of_type("kubernetes:apps/v1:DaemonSet")
    (container,) = daemon_set.inputs["spec"]["template"]["spec"]["containers"]
    assert "--enable-ipv6" in container["args"]


def test_ipv6_range_with_ipv6_switched_off_names_the_argument_and_the_label() -> None:
    ranges = [Range(cidr="fd20:a:b::/48", label="VPC ULA", origin="Network vpc")]
    with pytest.raises(
        (CidrError, RenderError),
        match=r"^IpMasqAgent agent: ranges: VPC ULA of Network vpc: 'fd20:a:b::/48' is IPv6 "
        r"but the cluster is not dual-stack \(enable_ipv6\)$",
    ):
        run(lambda: args(ranges=ranges, enable_ipv6=False))


def test_two_ranges_with_one_label_are_both_kept() -> None:
    # Concatenated, never keyed: a repeated label cannot drop a range.
    ranges = [Range(cidr="10.0.0.0/20", label="pods"), Range(cidr="10.8.0.0/14", label="pods")]
    result = run(lambda: args(ranges=ranges))
    assert document(result)["nonMasqueradeCIDRs"] == ["10.0.0.0/20", "10.8.0.0/14"]


@pytest.mark.parametrize(
    ("overrides", "daemon_sets"),
    [
        pytest.param({"deploy_daemon_set": False}, 0, id="configmap-only"),
        pytest.param({"dataplane": Dataplane.V2}, 0, id="dataplane-v2"),
        pytest.param({"dataplane": "v2"}, 0, id="dataplane-v2-text"),
        pytest.param({"dataplane": "legacy"}, 1, id="dataplane-legacy"),
    ],
)
def test_what_is_deployed(overrides: dict[str, Any], daemon_sets: int) -> None:
    result = run(lambda: args(**overrides))
    assert len(result.of_type("kubernetes:apps/v1:DaemonSet")) == daemon_sets
    assert len(result.of_type("kubernetes:core/v1:ConfigMap")) == 1
    if not daemon_sets:
        assert result.outputs["daemonSetName"] is None


def test_configmap_only_needs_no_image() -> None:
    result = run(lambda: {"ranges": three_ranges(), "dataplane": Dataplane.V2})
    assert document(result)["nonMasqueradeCIDRs"] == ["10.0.0.0/19", "10.4.0.0/14"]


@pytest.mark.parametrize("key", ["deploy_daemon_set", "dataplane"])
def test_an_output_for_a_deciding_argument_is_a_type_error(key: str) -> None:
    value = {"deploy_daemon_set": True, "dataplane": "legacy"}[key]
    with pytest.raises(TypeError, match=rf"^IpMasqAgent agent: {key} must be a plain .*Output"):
        run(lambda: args(**{key: pulumi.Output.from_input(value)}))


def test_daemon_set_on_dataplane_v2_is_refused() -> None:
    with pytest.raises(ValueError, match=r"deploy_daemon_set is true but dataplane is v2"):
        run(lambda: args(dataplane="v2", deploy_daemon_set=True))


def test_missing_image_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^IpMasqAgent agent: image is required"):
        run(lambda: {"ranges": three_ranges()})


def test_bad_range_inside_the_component_names_the_argument_and_label() -> None:
    ranges = [Range(cidr="10.4.0.1/14", label="pods", origin="Subnetwork net")]
    with pytest.raises(
        (CidrError, RenderError),
        match=r"^IpMasqAgent agent: ranges: pods of Subnetwork net: '10.4.0.1/14' has host bits",
    ):
        run(lambda: args(ranges=ranges))


def test_not_a_range_names_its_index() -> None:
    with pytest.raises(
        (TypeError, RenderError), match=r"^IpMasqAgent agent: ranges\[1\]: '10.0.0.0/8' is not"
    ):
        run(lambda: args(ranges=[three_ranges()[0], "10.0.0.0/8"]))


def test_agent_args() -> None:
    assert agent_args(enable_ipv6=True, backend="nftables") == [
        "--masq-chain=IP-MASQ-AGENT",
        "--backend=nftables",
        "--enable-ipv6",
        f"--health-address=127.0.0.1:{AGENT_HEALTH_PORT}",
        "--v=2",
    ]
    assert "--enable-ipv6" not in agent_args(enable_ipv6=False, backend="auto")


@pytest.mark.parametrize("backend", ["auto", "iptables", "nftables"])
@pytest.mark.parametrize("enable_ipv6", [False, True])
def test_the_agent_accepts_the_container_args(backend: str, enable_ipv6: bool) -> None:
    # The agent's own flag parser and backend registry judge the command line we deploy.
    options = parse_flags(agent_args(enable_ipv6=enable_ipv6, backend=backend))
    assert options.command == "run"
    assert options.masq_chain == "IP-MASQ-AGENT"
    assert options.enable_ipv6 is enable_ipv6
    assert options.backend == backend
    assert options.health_address == f"127.0.0.1:{AGENT_HEALTH_PORT}"
    assert options.config_path == f"{CONFIG_DIR}/ip-masq-agent"
    assert backend in default_backend_registry().names()


def test_configmap_carries_force_masquerade_cidrs_given_as_outputs() -> None:
    def make_args() -> IpMasqAgentArgs:
        exceptions = pulumi.Output.from_input(["10.4.0.0/24"]).apply(
            lambda cidrs: [*cidrs, "10.0.16.128/25"]
        )
        return args(force_masquerade_cidrs=exceptions)

    result = run(make_args)
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    text = configmap.inputs["data"]["config"]
    assert yaml.safe_load(text)["forceMasqueradeCIDRs"] == ["10.4.0.0/24", "10.0.16.128/25"]
    parsed = parse_config(text, enable_ipv6=False)
    assert [str(c) for c in parsed.force_masquerade_cidrs] == ["10.4.0.0/24", "10.0.16.128/25"]
    assert parsed.warnings == ()


@pytest.mark.parametrize("exceptions", [None, []], ids=["absent", "empty"])
def test_without_exceptions_the_document_has_no_force_masquerade_key(
    exceptions: list[str] | None,
) -> None:
    extra = {} if exceptions is None else {"force_masquerade_cidrs": exceptions}
    result = run(lambda: args(**extra))
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    assert "forceMasqueradeCIDRs" not in yaml.safe_load(configmap.inputs["data"]["config"])


def test_an_exception_equal_to_a_kept_cidr_fails_the_preview_naming_it() -> None:
    with pytest.raises(
        (ConfigError, RenderError), match=r"forceMasqueradeCIDRs\[0\]: 10\.4\.0\.0/14 is also in"
    ):
        run(lambda: args(force_masquerade_cidrs=["10.4.0.0/14"]))


def test_exceptions_expanding_past_the_agents_limit_fail_the_preview_with_the_count() -> None:
    # 200 host exceptions scattered over fd00::/8: a small list, ~22,000 rules on a node.
    exceptions = [f"fd{i:02x}:{i:x}::{i:x}/128" for i in range(1, 201)]
    with pytest.raises(
        (ConfigError, RenderError),
        match=rf"forceMasqueradeCIDRs: its 200 exceptions split nonMasqueradeCIDRs into \d+"
        rf" CIDRs \(one rule each\), more than the agent's limit of {MAX_PLANNED_CIDRS}",
    ):
        run(
            lambda: args(
                ranges=[Range(cidr="fd00::/8", label="ula")],
                force_masquerade_cidrs=exceptions,
                cidr_limit=300,
            )
        )
