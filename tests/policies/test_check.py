"""`make check` over real renders of every stack, and the pack catching mutations of them."""

import copy
import functools
import ipaddress
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import EnforcementLevel

from pulumi_ip_masq_agent.policy.pack import POLICIES
from pulumi_ip_masq_agent.testing.offline_policy import Finding, Resource, run_policies
from testbed.harness.offline import load_stack_config, render_stack, stacks
from testbed.harness.policy_check import main, policy_resources

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests/policies/stacks/Pulumi.broken.yaml"
STACKS = stacks(REPO)
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


@functools.cache
def _render(stack: str) -> tuple[Resource, ...]:
    # A render takes seconds: once per stack per session; tests get deep copies to mutate.
    return tuple(policy_resources(render_stack(stack, config=load_stack_config(stack))))


def rendered(stack: str) -> list[Resource]:
    """The stack's resources as the pack sees them in a preview."""
    return copy.deepcopy(list(_render(stack)))


def findings(stack: str, resources: list[Resource]) -> list[Finding]:
    return run_policies(POLICIES, resources, stack=stack, project="ip-masq-agent")


def mandatory(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.enforcement == EnforcementLevel.MANDATORY]


def test_every_stack_file_is_checked() -> None:
    assert {"dev", "prod", "local"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_make_check_passes_on_every_stack(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", stack]) == 0, capsys.readouterr().out
    assert f"check {stack}:" in capsys.readouterr().out


def test_make_check_fails_on_the_broken_stack_naming_the_policy() -> None:
    # Through the Makefile, as a reviewer or CI runs it.
    result = subprocess.run(
        ["make", "--no-print-directory", "check", f"STACK={BROKEN.relative_to(REPO)}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    assert "mandatory  ip-masq-config-valid" in result.stdout
    assert "resyncInterval 1s is outside 5s..10m" in result.stdout
    assert "FAILED: mandatory policy violated" in result.stdout


def test_cli_exit_code_is_one_on_a_mandatory_violation() -> None:
    assert main(["--stack", str(BROKEN)]) == 1


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_real_renders_pass_every_policy(stack: str) -> None:
    found = findings(stack, rendered(stack))
    # Only the image digest stays open: unknown before the build (dev, prod) or a tag (local).
    assert [(f.policy, f.enforcement) for f in found] == [
        ("agent-image-pinned", EnforcementLevel.ADVISORY)
    ]
    expected = "is not pinned by digest" if stack == "local" else "cannot check until deployed"
    assert expected in found[0].message


@pytest.mark.parametrize("monitoring", ["podmonitor", "gmp"])
def test_renders_with_monitoring_pass_every_policy(monitoring: str) -> None:
    # The scrape and rule objects (the Operator's or GMP's) are no agent DaemonSet nor ConfigMap:
    # the pack leaves them alone, and the DaemonSet serving /metrics on the node's address (not
    # its health, which stays on loopback) passes least privilege.
    config = load_stack_config("prod") | {"ip-masq-agent:monitoring": monitoring}
    resources = policy_resources(render_stack("prod", config=config))
    kinds = {r.resource_type.rsplit(":", 1)[-1] for r in resources}
    group = {"podmonitor": "PodMonitor", "gmp": "PodMonitoring"}[monitoring]
    assert group in kinds
    found = findings("prod", resources)
    assert [(f.policy, f.enforcement) for f in found] == [
        ("agent-image-pinned", EnforcementLevel.ADVISORY)
    ]


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_masq_link_local_on_a_real_render_is_advisory(stack: str) -> None:
    found = findings(stack, edit_config(rendered(stack), lambda d: d.update(masqLinkLocal=True)))
    [finding] = [f for f in found if f.policy == "masq-link-local"]
    assert finding.enforcement == EnforcementLevel.ADVISORY
    assert "masqLinkLocal is true" in finding.message
    assert not mandatory(found)


def configmap(resources: list[Resource]) -> Resource:
    [found] = [r for r in resources if r.resource_type == CONFIGMAP]
    return found


def edit_config(
    resources: list[Resource], edit: Callable[[dict[str, Any]], None]
) -> list[Resource]:
    target = configmap(resources)
    document = yaml.safe_load(target.props["data"]["config"])
    edit(document)
    props = {**target.props, "data": {"config": yaml.safe_dump(document)}}
    return [Resource(r.resource_type, r.name, props) if r is target else r for r in resources]


def edit_daemonset(
    resources: list[Resource], edit: Callable[[dict[str, Any]], None]
) -> list[Resource]:
    [target] = [r for r in resources if r.resource_type == DAEMONSET]
    props = copy.deepcopy(dict(target.props))
    edit(props["spec"]["template"]["spec"])
    return [Resource(r.resource_type, r.name, props) if r is target else r for r in resources]


def only(found: list[Finding], policy: str) -> Finding:
    """The named policy's mandatory finding; no other policy may object (but coverage may say
    that an unparseable document leaves coverage unshown)."""
    hits = [f for f in mandatory(found) if f.policy == policy]
    assert hits, found
    others = [f for f in mandatory(found) if f.policy != policy]
    assert all("coverage of pod ranges cannot be shown" in f.message for f in others), others
    return hits[0]


@pytest.mark.parametrize(("stack", "pods"), [("dev", "10.12.0.0/16"), ("prod", "10.64.0.0/14")])
def test_dropping_the_pod_range_is_caught(stack: str, pods: str) -> None:
    def drop(document: dict[str, Any]) -> None:
        # The render merges adjacent ranges: drop whichever entry holds the pod range.
        pod_range = ipaddress.ip_network(pods)
        kept = [
            c
            for c in document["nonMasqueradeCIDRs"]
            if not pod_range.overlaps(ipaddress.ip_network(c))
        ]
        assert len(kept) == len(document["nonMasqueradeCIDRs"]) - 1
        document["nonMasqueradeCIDRs"] = kept

    found = findings(stack, edit_config(rendered(stack), drop))
    only(found, "non-masquerade-covers-pod-ranges")
    [finding] = [f for f in found if f"cover pod range of cluster 'ip-masq-{stack}' (" in f.message]
    assert finding.message.startswith("ConfigMap kube-system/ip-masq-agent (ip-masq-agent-config)")
    assert f"secondary range 'pods' of subnet 'network-subnet') {pods}" in finding.message


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_default_route_is_caught(stack: str) -> None:
    def add(document: dict[str, Any]) -> None:
        document["nonMasqueradeCIDRs"].append("0.0.0.0/0")

    finding = only(findings(stack, edit_config(rendered(stack), add)), "ip-masq-config-valid")
    assert "nonMasqueradeCIDRs contains 0.0.0.0/0" in finding.message
    assert "ConfigMap kube-system/ip-masq-agent" in finding.message


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_exceeding_cidr_limit_is_caught(stack: str) -> None:
    def shrink(document: dict[str, Any]) -> None:
        document["cidrLimit"] = len(document["nonMasqueradeCIDRs"]) - 1

    finding = only(findings(stack, edit_config(rendered(stack), shrink)), "ip-masq-config-valid")
    assert "more than cidrLimit" in finding.message


DAEMONSET_MUTATIONS = [
    pytest.param(
        lambda pod: pod["containers"][0]["securityContext"].update(privileged=True),
        "securityContext.privileged is true",
        id="privileged",
    ),
    pytest.param(
        lambda pod: pod["containers"][0]["securityContext"]["capabilities"]["add"].append(
            "SYS_ADMIN"
        ),
        "capabilities.add has SYS_ADMIN",
        id="sys-admin",
    ),
    pytest.param(
        lambda pod: pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        "volume host mounts hostPath '/'",
        id="hostpath-root",
    ),
]


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
@pytest.mark.parametrize(("mutate", "expected"), DAEMONSET_MUTATIONS)
def test_daemonset_mutations_are_caught(
    stack: str, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    finding = only(
        findings(stack, edit_daemonset(rendered(stack), mutate)), "ip-masq-agent-least-privilege"
    )
    assert finding.message.startswith(
        "DaemonSet kube-system/ip-masq-agent-derived (ip-masq-agent-agent)"
    )
    assert expected in finding.message


def test_policy_config_file_changes_enforcement(tmp_path: Path) -> None:
    config = tmp_path / "strict.json"
    config.write_text('{"agent-image-pinned": {"enforcementLevel": "mandatory"}}')
    # local's image is a tag: advisory by default, mandatory with this config.
    assert main(["--stack", "local"]) == 0
    assert main(["--stack", "local", "--policy-config", str(config)]) == 1


def test_unrenderable_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "no-such-stack"]) == 2
    assert "no such stack file" in capsys.readouterr().err


@functools.cache
def _render_with(stack: str, overrides: tuple[tuple[str, str], ...]) -> tuple[Resource, ...]:
    config = load_stack_config(stack)
    config.update({f"ip-masq-agent:{key}": value for key, value in overrides})
    return tuple(policy_resources(render_stack(stack, config=config)))


def rendered_with(stack: str, **overrides: str) -> list[Resource]:
    """The stack rendered by the real program with these ip-masq-agent:* keys set on top."""
    return copy.deepcopy(list(_render_with(stack, tuple(sorted(overrides.items())))))


PARTNER = '["10.200.7.0/24"]'  # inside dev's peered 10.200.0.0/16


def test_force_masquerade_in_a_stack_that_runs_our_agent_passes() -> None:
    resources = rendered_with("dev", forceMasqueradeCidrs=PARTNER)
    document = yaml.safe_load(configmap(resources).props["data"]["config"])
    assert document["forceMasqueradeCIDRs"] == ["10.200.7.0/24"]
    assert not mandatory(findings("dev", resources))


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        pytest.param(
            "dev",
            {"dataplane": "v2"},
            "forceMasqueradeCIDRs (10.200.7.0/24) on Dataplane V2 (cluster 'ip-masq-dev'",
            id="dataplane-v2",
        ),
        pytest.param(
            "local",
            {"platform": "gke-managed-agent", "extraNonMasqueradeCidrs": '["10.200.0.0/16"]'},
            "forceMasqueradeCIDRs (10.200.7.0/24) but no DaemonSet in this stack runs this"
            " project's agent (platform gke-managed-agent or gke-dataplane-v2)",
            id="configmap-only",
        ),
    ],
)
def test_force_masquerade_without_our_agent_is_mandatory(
    stack: str, overrides: dict[str, str], expected: str
) -> None:
    found = findings(stack, rendered_with(stack, forceMasqueradeCidrs=PARTNER, **overrides))
    finding = only(found, "force-masquerade-needs-our-agent")
    assert expected in finding.message
    assert "silently ignores it" in finding.message


def test_an_exception_cutting_into_the_pod_range_is_mandatory_naming_both() -> None:
    found = findings("dev", rendered_with("dev", forceMasqueradeCidrs='["10.12.4.0/22"]'))
    finding = only(found, "non-masquerade-covers-pod-ranges")
    assert "forceMasqueradeCIDRs entry 10.12.4.0/22 cuts into pod range of cluster" in (
        finding.message
    )
    assert "'ip-masq-dev'" in finding.message and "10.12.0.0/16 (masqueraded: 10.12.4.0/22)" in (
        finding.message
    )
