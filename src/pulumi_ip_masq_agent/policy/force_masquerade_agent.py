"""force-masquerade-needs-our-agent: only this project's agent honours forceMasqueradeCIDRs."""

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy import ReportViolation, StackValidationArgs

from ip_masq_agent.config import AgentConfig
from pulumi_ip_masq_agent.policy.config_document import each_agent_config
from pulumi_ip_masq_agent.policy.gke_ranges import CLUSTER, StackResource
from pulumi_ip_masq_agent.policy.kubernetes_objects import (
    is_agent_daemonset,
    pod_containers,
)
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.policy.props import as_list, as_text

NAME: Final = "force-masquerade-needs-our-agent"
# A flag only this project's agent has: upstream's refuses unknown flags, so a DaemonSet
# passing it runs ours. The component always passes it.
OUR_AGENT_FLAG: Final = "--backend"
DATAPLANE_V2: Final = "ADVANCED_DATAPATH"
WHY: Final = (
    "an agent that does not know the key (upstream's, GKE's managed one, Dataplane V2) "
    "silently ignores it and keeps pod IPs towards these ranges"
)


def runs_our_agent(props: Mapping[str, Any]) -> bool:
    """Some container of this agent DaemonSet passes our agent's own flag."""
    return any(
        (as_text(arg) or "").partition("=")[0] == OUR_AGENT_FLAG
        for container in pod_containers(props)
        for arg in as_list(container.get("args"))
    )


def _dataplane_v2_clusters(
    resources: Sequence[StackResource], unknowns: PreviewUnknowns
) -> list[str]:
    def name_if_v2(resource: StackResource) -> str | None:
        if as_text(resource.props.get("datapathProvider")) != DATAPLANE_V2:
            return None
        return as_text(resource.props.get("name")) or resource.name

    return unknowns.read_each(resources, lambda r: r.resource_type == CLUSTER, name_if_v2)


def _our_daemonsets(resources: Sequence[StackResource], unknowns: PreviewUnknowns) -> list[str]:
    return unknowns.read_each(
        resources,
        lambda r: is_agent_daemonset(r.resource_type, r.props),
        lambda r: r.name if runs_our_agent(r.props) else None,
    )


def validate_force_masquerade_agent(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """A ConfigMap with forceMasqueradeCIDRs needs our DaemonSet, and no Dataplane V2 cluster."""
    unknowns = PreviewUnknowns("stack")

    def check(resource: StackResource, subject: str, config: AgentConfig) -> None:
        if not config.force_masquerade_cidrs:
            return
        listed = ", ".join(map(str, config.force_masquerade_cidrs))
        head = f"{subject} data.config: forceMasqueradeCIDRs ({listed})"
        v2 = _dataplane_v2_clusters(args.resources, unknowns)
        pending = len(unknowns.fields)
        ours = _our_daemonsets(args.resources, unknowns)
        # A DaemonSet whose args are unknown in this preview may be ours: advisory only.
        undecided = len(unknowns.fields) > pending
        if v2:
            report_violation(
                f"{head} on Dataplane V2 (cluster {', '.join(repr(n) for n in v2)}: "
                f"datapathProvider {DATAPLANE_V2}), whose own agent reads this ConfigMap: "
                f"{WHY}",
                resource.urn,
            )
        elif not ours and not undecided:
            report_violation(
                f"{head} but no DaemonSet in this stack runs this project's agent "
                f"(platform gke-managed-agent or gke-dataplane-v2): {WHY}",
                resource.urn,
            )

    each_agent_config(args.resources, unknowns, check)
    unknowns.raise_if_any()
