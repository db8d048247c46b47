"""`make demo` of an Autopilot stack: render and check it, and say why nothing runs here."""

from collections.abc import Callable

from pulumi_ip_masq_agent.ip_masq_agent import EGRESS_NAT_KIND
from pulumi_ip_masq_agent.policy.pack import POLICIES
from pulumi_ip_masq_agent.settings import PROJECT
from pulumi_ip_masq_agent.testing.offline_policy import format_finding, has_mandatory, run_policies
from testbed.harness.offline import (
    REPO_ROOT,
    RenderResult,
    load_stack_config,
    manifest_yaml,
    render_stack,
    write_manifests,
)
from testbed.harness.policy_check import load_policy_config, policy_resources

# Said plainly, instead of faking a dataplane the sandbox does not have.
NO_SANDBOX: tuple[str, ...] = (
    "The GKE Autopilot dataplane cannot run in this sandbox: on Autopilot the EgressNATPolicy is",
    "enforced by GKE Dataplane V2 (Cilium's eBPF datapath, configured by GKE's own controller),",
    "which this namespace cluster does not have. Nothing was started and no packet was probed:",
    "the render and the policy check above are the whole demo for this stack.",
)


def egress_nat_policies(result: RenderResult) -> list[dict[str, object]]:
    """The rendered EgressNATPolicy objects (one on a gke-autopilot stack, else none)."""
    return [
        r.inputs for r in result.kubernetes_objects() if r.inputs.get("kind") == EGRESS_NAT_KIND
    ]


def autopilot_demo(stack: str, say: Callable[[str], None]) -> int | None:
    """Render and check an Autopilot stack (exit code); None for any other stack."""
    result = render_stack(stack, config=load_stack_config(stack))
    policies = egress_nat_policies(result)
    if not policies:
        return None
    written = write_manifests(result, REPO_ROOT / "rendered" / stack)
    say(f"stack {stack}: platform gke-autopilot, {len(written)} object(s) in rendered/{stack}/")
    for policy in policies:
        say("")
        say(manifest_yaml(policy).rstrip())
    kube_system = [
        f"{r.inputs['kind']} {r.inputs['metadata'].get('name')}"
        for r in result.kubernetes_objects()
        if (r.inputs.get("metadata") or {}).get("namespace") == "kube-system"
    ]
    say("")
    say(f"in kube-system: {', '.join(kube_system) or 'nothing (Autopilot refuses writes there)'}")
    findings = run_policies(
        POLICIES,
        policy_resources(result),
        stack=stack,
        project=PROJECT,
        config=load_policy_config(None, stack),
    )
    for finding in findings:
        say(format_finding(finding))
    failed = has_mandatory(findings)
    say(f"policy check: {len(findings)} finding(s); {'FAILED' if failed else 'passed'}")
    say("")
    for line in NO_SANDBOX:
        say(line)
    return 1 if failed or kube_system else 0
