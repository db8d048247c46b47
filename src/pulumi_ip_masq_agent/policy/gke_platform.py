"""The GKE platform policies: delivery matches the Cluster, Autopilot keeps out of kube-system,
and the EgressNATPolicy keeps every pod range's addresses."""

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy import ReportViolation, StackValidationArgs

from ip_masq_agent.prefixes import Prefix
from pulumi_ip_masq_agent.cidrs import read_network, uncovered
from pulumi_ip_masq_agent.policy.force_masquerade_agent import runs_our_agent
from pulumi_ip_masq_agent.policy.gke_ranges import CLUSTER, StackResource, required_ranges
from pulumi_ip_masq_agent.policy.kubernetes_objects import (
    AGENT_NAMESPACE,
    is_agent_configmap,
    is_agent_daemonset,
)
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.policy.props import as_list, as_mapping, as_text, dig
from pulumi_ip_masq_agent.ranges import describe as describe_range

PLATFORM_MATCHES: Final = "platform-matches-cluster"
AUTOPILOT_KUBE_SYSTEM: Final = "autopilot-nothing-in-kube-system"
EGRESS_COVERAGE: Final = "egress-nat-policy-covers-pod-ranges"
EGRESS_NAT_TYPE: Final = "kubernetes:networking.gke.io/v1:EgressNATPolicy"
DATAPLANE_V2: Final = "ADVANCED_DATAPATH"


def _cluster_label(resource: StackResource) -> str:
    return f"cluster {as_text(resource.props.get('name')) or resource.name!r}"


def _autopilot_clusters(
    resources: Sequence[StackResource], unknowns: PreviewUnknowns
) -> list[StackResource]:
    found = []
    for resource in resources:
        if resource.resource_type == CLUSTER:
            with unknowns.guard(f"{resource.name}."):
                if resource.props.get("enableAutopilot") is True:
                    found.append(resource)
    return found


def _policies(resources: Sequence[StackResource]) -> list[StackResource]:
    return [r for r in resources if r.resource_type == EGRESS_NAT_TYPE]


def _policy_label(resource: StackResource) -> str:
    return f"EgressNATPolicy {dig(resource.props, 'metadata', 'name') or '?'} ({resource.name})"


def _in_kube_system(resource: StackResource) -> bool:
    if not resource.resource_type.startswith("kubernetes:"):
        return False
    return bool(dig(resource.props, "metadata", "namespace") == AGENT_NAMESPACE)


def validate_platform_matches_cluster(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """What carries the list (EgressNATPolicy, our DaemonSet, a ConfigMap) fits every Cluster:
    Autopilot takes the EgressNATPolicy, Dataplane V2 the ConfigMap alone, and only a Standard
    cluster on the legacy dataplane runs our agent."""
    unknowns = PreviewUnknowns("stack")
    policies = _policies(args.resources)
    configmaps = [r for r in args.resources if is_agent_configmap(r.resource_type, r.props)]
    ours = []
    for resource in args.resources:
        if is_agent_daemonset(resource.resource_type, resource.props):
            with unknowns.guard(f"{resource.name}."):
                if runs_our_agent(resource.props):
                    ours.append(resource)
    for cluster in (r for r in args.resources if r.resource_type == CLUSTER):
        with unknowns.guard(f"{cluster.name}."):
            autopilot = cluster.props.get("enableAutopilot") is True
            v2 = as_text(cluster.props.get("datapathProvider")) == DATAPLANE_V2
            label = _cluster_label(cluster)
            if autopilot and configmaps and not policies:
                report_violation(
                    f"{label} is Autopilot (enableAutopilot true) but the stack delivers the list "
                    "as the kube-system/ip-masq-agent ConfigMap, which Autopilot refuses: "
                    "use platform gke-autopilot (an EgressNATPolicy)",
                    cluster.urn,
                )
            if not autopilot:
                for policy in policies:
                    report_violation(
                        f"{_policy_label(policy)}: platform gke-autopilot but {label} is GKE "
                        "Standard (enableAutopilot unset): use gke-standard, gke-managed-agent or "
                        "gke-dataplane-v2 for it",
                        policy.urn,
                    )
            if v2 and not autopilot:
                for daemon_set in ours:
                    report_violation(
                        f"DaemonSet {dig(daemon_set.props, 'metadata', 'name')} "
                        f"({daemon_set.name}): our agent (platform gke-standard) on {label}, "
                        f"datapathProvider {DATAPLANE_V2}, whose dataplane reads the ConfigMap "
                        "itself: use platform gke-dataplane-v2",
                        daemon_set.urn,
                    )
    unknowns.raise_if_any()


def validate_autopilot_kube_system(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """With an Autopilot cluster in the stack, no Kubernetes object goes to kube-system
    (GKE Warden refuses it: `pulumi up` would fail half-way)."""
    unknowns = PreviewUnknowns("stack")
    clusters = _autopilot_clusters(args.resources, unknowns)
    if clusters:
        names = ", ".join(_cluster_label(c) for c in clusters)
        for resource in args.resources:
            with unknowns.guard(f"{resource.name}."):
                if _in_kube_system(resource):
                    kind = as_text(resource.props.get("kind")) or resource.resource_type
                    name = dig(resource.props, "metadata", "name")
                    report_violation(
                        f"{kind} kube-system/{name} ({resource.name}): {names} is Autopilot, "
                        "which refuses every write to kube-system (managed-namespaces-limitation)",
                        resource.urn,
                    )
    unknowns.raise_if_any()


def _destinations(props: Mapping[str, Any]) -> list[Prefix]:
    found: list[Prefix] = []
    if as_text(dig(props, "spec", "action")) != "NoSNAT":
        return found
    for entry in as_list(dig(props, "spec", "destinations")):
        network = read_network(as_text(as_mapping(entry).get("cidr")) or "")
        if network is not None:
            found.append(network)
    return found


def validate_egress_nat_coverage(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """The stack's NoSNAT destinations cover every pod (and services) range of its clusters,
    as GKE's Network Analyzer checks: a gap is pod traffic masqueraded to the node's address."""
    unknowns = PreviewUnknowns("stack")
    policies = _policies(args.resources)
    if not policies:
        unknowns.raise_if_any()
        return
    ranges = required_ranges(args.resources, unknowns)
    covering: list[Prefix] = []
    for policy in policies:
        with unknowns.guard(f"{policy.name}."):
            covering += _destinations(policy.props)
    subject = ", ".join(_policy_label(p) for p in policies)
    for required in ranges:
        cidr = read_network(str(required["cidr"]))
        if cidr is None:
            continue  # required_ranges holds only ranges it could read
        missing = uncovered(cidr, covering)
        if missing:
            report_violation(
                f"{subject}: NoSNAT destinations do not cover {describe_range(required)} {cidr} "
                f"(uncovered: {', '.join(str(part) for part in missing)}); pod traffic to it "
                "would be masqueraded",
                policies[0].urn,
            )
    unknowns.raise_if_any()
