"""The pack's policies: names, descriptions, default enforcement and config schemas."""

from typing import Final

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from pulumi_ip_masq_agent.policy import (
    config_valid,
    force_masquerade_agent,
    gke_platform,
    image_pinned,
    least_privilege,
    masq_link_local,
    plan_fits_backend,
    pod_range_coverage,
)

PACK_NAME: Final = "ip-masq-agent"

POLICIES: Final[list[Policy]] = [
    StackValidationPolicy(
        name=pod_range_coverage.NAME,
        description=(
            "The kube-system/ip-masq-agent ConfigMap's nonMasqueradeCIDRs covers every pod range "
            "(cluster, additional and node-pool pod ranges) and the services range of every GKE "
            "cluster and subnet in the stack, and no forceMasqueradeCIDRs entry cuts into one, "
            "so pod-to-pod traffic is never SNATed."
        ),
        validate=pod_range_coverage.validate_pod_ranges_covered,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name=force_masquerade_agent.NAME,
        description=(
            "A kube-system/ip-masq-agent ConfigMap with forceMasqueradeCIDRs is read by this "
            "project's agent: the stack deploys its DaemonSet and runs no Dataplane V2 cluster "
            "(agents that do not know the key ignore it and keep pod IPs towards the ranges)."
        ),
        validate=force_masquerade_agent.validate_force_masquerade_agent,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name=plan_fits_backend.NAME,
        description=(
            "A kube-system/ip-masq-agent ConfigMap plans no more CIDRs than the backend of the "
            "stack's agent DaemonSets holds in its memory limit (50,000 on nftables, 20,000 on "
            "the iptables backends and auto), as the agent itself would refuse."
        ),
        validate=plan_fits_backend.validate_plan_fits_backend,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name=gke_platform.PLATFORM_MATCHES,
        description=(
            "How the list reaches the nodes matches every GKE Cluster in the stack: an "
            "EgressNATPolicy only for Autopilot (enableAutopilot), no ConfigMap-only delivery "
            "on Autopilot, and no DaemonSet of our agent on Dataplane V2 (datapathProvider "
            "ADVANCED_DATAPATH), whose dataplane reads the ConfigMap itself."
        ),
        validate=gke_platform.validate_platform_matches_cluster,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name=gke_platform.AUTOPILOT_KUBE_SYSTEM,
        description=(
            "A stack with a GKE Autopilot cluster writes no Kubernetes object to kube-system, "
            "which Autopilot refuses (managed-namespaces-limitation)."
        ),
        validate=gke_platform.validate_autopilot_kube_system,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name=gke_platform.EGRESS_COVERAGE,
        description=(
            "The NoSNAT destinations of the stack's EgressNATPolicy cover every pod range "
            "(cluster, additional, node-pool) and the services range of every GKE cluster and "
            "subnet in the stack, as GKE's Network Analyzer checks."
        ),
        validate=gke_platform.validate_egress_nat_coverage,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name=config_valid.NAME,
        description=(
            "The ip-masq-agent config parses with the agent's own parser, has no 0.0.0.0/0 or "
            "::/0, stays within cidrLimit and keeps resyncInterval within bounds."
        ),
        validate=config_valid.validate_ip_masq_config,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties=config_valid.CONFIG_SCHEMA),
    ),
    ResourceValidationPolicy(
        name=least_privilege.NAME,
        description=(
            "The ip-masq-agent DaemonSet is not privileged, adds only NET_ADMIN/NET_RAW, mounts "
            "no host path but /run/xtables.lock, has a read-only root filesystem, no "
            "service-account token, resources set, tolerations reaching every node and priority "
            "class system-node-critical."
        ),
        validate=least_privilege.validate_least_privilege,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name=image_pinned.NAME,
        description="The ip-masq-agent images are referenced by @sha256 digest.",
        validate=image_pinned.validate_image_pinned,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(properties=image_pinned.CONFIG_SCHEMA),
    ),
    ResourceValidationPolicy(
        name=masq_link_local.NAME,
        description=(
            "masqLinkLocal/masqLinkLocalIPv6 true SNATs link-local traffic, hiding pods from "
            "the metadata server."
        ),
        validate=masq_link_local.validate_masq_link_local,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
]
