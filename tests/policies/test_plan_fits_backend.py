"""ip-masq-plan-fits-backend over hand-built stacks: the backend's limit, the agent's own."""

from typing import Any

import pytest

from pulumi_ip_masq_agent.policy.plan_fits_backend import agent_backend, validate_plan_fits_backend
from tests.policies.objects import CONFIGMAP, DAEMONSET, agent_config, configmap, daemonset
from tests.policies.policy_args import run_stack

Stack = list[tuple[str, str, dict[str, Any]]]
# 200 host exceptions scattered over fd00::/8: a 6 KB document planning 22,406 CIDRs.
SPLIT_22406 = agent_config(
    nonMasqueradeCIDRs=["fd00::/8"],
    forceMasqueradeCIDRs=[f"fd{i:02x}:{i:x}::{i:x}/128" for i in range(1, 201)],
    cidrLimit=300,
)


def agent_daemonset(*args: str) -> dict[str, Any]:
    props = daemonset()
    props["spec"]["template"]["spec"]["containers"][0]["args"] = ["--masq-chain=IP-MASQ", *args]
    return props


def check(config: str, *daemon_sets: dict[str, Any]) -> list[str]:
    resources: Stack = [(CONFIGMAP, "ip-masq-config", configmap(config))]
    resources += [(DAEMONSET, f"agent-{i}", props) for i, props in enumerate(daemon_sets)]
    return run_stack(validate_plan_fits_backend, resources)


@pytest.mark.parametrize("backend", ["auto", "iptables", "iptables-nft", "iptables-legacy"])
def test_past_the_iptables_limit_is_refused_naming_the_backend_and_the_way_out(
    backend: str,
) -> None:
    [violation] = check(SPLIT_22406, agent_daemonset(f"--backend={backend}"))
    assert violation == (
        "ConfigMap kube-system/ip-masq-agent (ip-masq-config) data.config: forceMasqueradeCIDRs:"
        " its 200 exceptions split nonMasqueradeCIDRs into 22406 CIDRs (one rule each), more"
        f" than the agent's limit of 20,000 on backend {backend} (what fits its memory limit);"
        " use fewer or wider exceptions, or use the nftables backend (up to 50,000) or merge"
        " ranges into wider ones (DaemonSet kube-system/ip-masq-agent (agent-0) runs"
        f" --backend={backend})"
    )


def test_nftables_holds_it() -> None:
    assert check(SPLIT_22406, agent_daemonset("--backend=nftables")) == []


def test_every_daemonset_reading_it_is_judged() -> None:
    nft, legacy = agent_daemonset("--backend=nftables"), agent_daemonset("--backend", "iptables")
    [violation] = check(SPLIT_22406, nft, legacy)
    assert violation.endswith("(agent-1) runs --backend=iptables)")


def test_without_our_agent_there_is_no_backend_to_judge_by() -> None:
    upstream = agent_daemonset("--v=2")
    assert check(SPLIT_22406, upstream) == []
    assert check(SPLIT_22406) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--backend=nftables"], "nftables"),
        (["--backend", "iptables-nft"], "iptables-nft"),
        (["--backend=iptables", "--backend=nftables"], "nftables"),
        (["--backend"], "auto"),
        (["--v=2"], None),
    ],
)
def test_the_backend_is_read_from_the_args(args: list[str], expected: str | None) -> None:
    assert agent_backend(agent_daemonset(*args)) == expected
