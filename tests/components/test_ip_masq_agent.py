"""The IpMasqAgent component alone, under Pulumi's mocks (fresh context and event loop per run)."""

from collections.abc import Callable
from typing import Any

import pulumi
import pytest
import yaml

from harness.offline import RenderError, RenderResult, run_under_mocks
from ip_masq_agent.backends.registry import default_backend_registry
from ip_masq_agent.config import ConfigError, parse_config
from ip_masq_agent.flags import parse_flags
from pulumi_ip_masq_agent.cidrs import CidrError
from pulumi_ip_masq_agent.ip_masq_agent import (
    AGENT_HEALTH_PORT,
    CONFIG_DIR,
    CONFIG_MAP_NAME,
    DAEMON_SET_NAME,
    IpMasqAgent,
    IpMasqAgentArgs,
    agent_args,
    combine_ranges,
)


def args(**overrides: Any) -> IpMasqAgentArgs:
    base: IpMasqAgentArgs = {
        "ranges": {"nodes": "10.0.0.0/20", "pods": "10.4.0.0/14", "services": "10.0.16.0/20"},
        "enable_ipv6": False,
        "cidr_limit": 64,
        "masq_link_local": False,
        "masq_link_local_ipv6": False,
        "resync_interval": "60s",
        "deploy_daemon_set": True,
        "image": "registry.example/ip-masq-agent:1",
        "backend": "auto",
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


def test_configmap_document_from_output_ranges() -> None:
    # Ranges given as Outputs, as the network component hands them over.
    def make_args() -> IpMasqAgentArgs:
        ranges = combine_ranges(
            pulumi.Output.from_input({"nodes": "10.0.0.0/20"}),
            {"pods": "10.4.0.0/14", "services": "10.0.16.0/20"},
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


def test_no_daemon_set_when_not_deployed() -> None:
    result = run(lambda: args(deploy_daemon_set=False))
    assert not result.of_type("kubernetes:apps/v1:DaemonSet")
    assert result.outputs["daemonSetName"] is None
    assert len(result.of_type("kubernetes:core/v1:ConfigMap")) == 1


def test_bad_range_inside_the_component_names_its_source() -> None:
    with pytest.raises((CidrError, RenderError), match=r"^pods: '10.4.0.1/14' has host bits set"):
        run(lambda: args(ranges={"pods": "10.4.0.1/14"}))


def test_agent_args() -> None:
    assert agent_args(enable_ipv6=True, backend="nftables") == [
        "--masq-chain=IP-MASQ-AGENT",
        "--backend=nftables",
        "--enable-ipv6",
        f"--health-address=0.0.0.0:{AGENT_HEALTH_PORT}",
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
    assert options.health_address == f"0.0.0.0:{AGENT_HEALTH_PORT}"
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
