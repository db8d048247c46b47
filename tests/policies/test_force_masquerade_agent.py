"""force-masquerade-needs-our-agent over hand-built stacks."""

from typing import Any

import pytest

from pulumi_ip_masq_agent.policy.force_masquerade_agent import validate_force_masquerade_agent
from pulumi_ip_masq_agent.policy.preview_unknowns import CannotCheckUntilDeployedError
from tests.policies.objects import (
    CLUSTER,
    CONFIGMAP,
    DAEMONSET,
    agent_config,
    cluster,
    configmap,
    daemonset,
    gke_stack,
)
from tests.policies.policy_args import UNKNOWN, run_stack

Stack = list[tuple[str, str, dict[str, Any]]]
WITH_EXCEPTION = agent_config(
    nonMasqueradeCIDRs=["10.0.0.0/8"], forceMasqueradeCIDRs=["10.200.0.0/16"]
)


def check(resources: Stack, violations: list[str] | None = None) -> list[str]:
    return run_stack(validate_force_masquerade_agent, resources, violations=violations)


def stack(
    config: str = WITH_EXCEPTION, *, daemon_set: bool = True, dataplane_v2: bool = False
) -> Stack:
    gke = cluster() | ({"datapathProvider": "ADVANCED_DATAPATH"} if dataplane_v2 else {})
    resources: Stack = [(CLUSTER, "cluster", gke), (CONFIGMAP, "ip-masq-config", configmap(config))]
    if daemon_set:
        resources.append((DAEMONSET, "ip-masq-agent", daemonset()))
    return resources


def test_our_daemonset_on_legacy_dataplane_passes() -> None:
    assert check(stack()) == []


def test_no_exceptions_need_nothing() -> None:
    assert check(stack(agent_config(), daemon_set=False, dataplane_v2=True)) == []
    assert check(stack(agent_config(forceMasqueradeCIDRs=[]), daemon_set=False)) == []


def test_configmap_only_stack_is_mandatory_and_says_why() -> None:
    [violation] = check(stack(daemon_set=False))
    assert violation.startswith(
        "ConfigMap kube-system/ip-masq-agent (ip-masq-config) data.config: forceMasqueradeCIDRs"
        " (10.200.0.0/16) but no DaemonSet in this stack runs this project's agent"
        " (platform gke-managed-agent or gke-dataplane-v2)"
    )
    assert "silently ignores it and keeps pod IPs towards these ranges" in violation


def test_dataplane_v2_cluster_is_mandatory_even_beside_a_daemonset() -> None:
    [violation] = check(stack(dataplane_v2=True))
    assert "forceMasqueradeCIDRs (10.200.0.0/16) on Dataplane V2 (cluster 'dev-gke'" in violation
    assert "datapathProvider ADVANCED_DATAPATH" in violation


def test_upstreams_daemonset_does_not_count_as_ours() -> None:
    upstream = daemonset()
    container = upstream["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "registry.k8s.io/networking/ip-masq-agent:v2.12.6"
    container["args"] = ["--masq-chain=IP-MASQ", "--v=2"]
    resources = [r if r[0] != DAEMONSET else (DAEMONSET, "upstream", upstream) for r in stack()]
    [violation] = check(resources)
    assert "no DaemonSet in this stack runs this project's agent" in violation


def test_the_component_stack_passes() -> None:
    resources = [
        (t, n, configmap(WITH_EXCEPTION) if t == CONFIGMAP else p) for t, n, p in gke_stack()
    ]
    assert check(resources) == []


def test_unknown_daemonset_args_are_an_advisory_not_a_violation() -> None:
    unknown = daemonset()
    unknown["spec"]["template"]["spec"]["containers"][0]["args"] = UNKNOWN
    resources = [r if r[0] != DAEMONSET else (DAEMONSET, "ds", unknown) for r in stack()]
    violations: list[str] = []
    with pytest.raises(CannotCheckUntilDeployedError, match=r"ds\.spec"):
        check(resources, violations)
    assert violations == []


def test_invalid_config_is_left_to_config_valid() -> None:
    assert check(stack("forceMasqueradeCIDRs: [10.200.0.1/16]", daemon_set=False)) == []
