"""non-masquerade-covers-pod-ranges: no pod or service range is left to be masqueraded."""

import ipaddress
from collections.abc import Sequence
from typing import Final

from pulumi_policy import ReportViolation, StackValidationArgs

from ip_masq_agent.config import AgentConfig
from ip_masq_agent.prefix_decision import effective_non_masquerade
from policies.config_document import ConfigError, config_text, parse_configmap
from policies.gke_ranges import Network, RequiredRange, StackResource, required_ranges
from policies.kubernetes_objects import CONFIGMAP_PATCH, describe, is_agent_configmap
from policies.preview_unknowns import PreviewUnknowns

NAME: Final = "non-masquerade-covers-pod-ranges"


def uncovered_parts(required: Network, covering: Sequence[Network]) -> list[Network]:
    """The parts of `required` that no CIDR in `covering` contains (empty when covered)."""
    remaining: list[Network] = [required]
    for cidr in covering:
        if cidr.version != required.version:
            continue
        next_remaining: list[Network] = []
        for part in remaining:
            if part.subnet_of(cidr):  # type: ignore[arg-type]
                continue
            if cidr.subnet_of(part):  # type: ignore[arg-type]
                next_remaining.extend(part.address_exclude(cidr))  # type: ignore[arg-type]
            else:
                next_remaining.append(part)
        remaining = next_remaining
    # One address family here (the loop skips the other), which collapse_addresses requires.
    return sorted(ipaddress.collapse_addresses(remaining))  # type: ignore[type-var]


def exception_cuts(required: Network, config: AgentConfig) -> list[tuple[Network, list[Network]]]:
    """(exception, parts of `required` it masquerades) for every forceMasqueradeCIDRs entry
    that takes addresses of `required` away from the kept ranges: judged on the agent's plan."""
    version = required.version
    kept = [c for c in config.non_masquerade_cidrs if c.version == version]
    excepted = [c for c in config.force_masquerade_cidrs if c.version == version]
    if not excepted:
        return []
    effective = list(effective_non_masquerade(kept, excepted))
    cuts = []
    for exception in excepted:
        if not exception.overlaps(required):
            continue
        # CIDRs nest or are apart: the overlap is the smaller of the two.
        overlap = exception if exception.prefixlen >= required.prefixlen else required
        # Parts no kept range covers at all are the plain coverage gap, reported on their own.
        gap = uncovered_parts(overlap, kept)
        parts = uncovered_parts(overlap, effective + gap)
        if parts:
            cuts.append((exception, parts))
    return cuts


def _configmaps(
    resources: Sequence[StackResource], unknowns: PreviewUnknowns
) -> list[StackResource]:
    found = []
    for resource in resources:
        with unknowns.guard(f"{resource.name}."):
            if is_agent_configmap(resource.resource_type, resource.props) and not (
                # A patch that leaves data.config alone says nothing about coverage.
                resource.resource_type == CONFIGMAP_PATCH and config_text(resource.props) is None
            ):
                found.append(resource)
    return found


def validate_pod_ranges_covered(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Every cluster's pod/services range lies inside the ConfigMap's nonMasqueradeCIDRs."""
    unknowns = PreviewUnknowns("stack")
    configmaps = _configmaps(args.resources, unknowns)
    if not configmaps:
        unknowns.raise_if_any()
        return
    ranges: list[RequiredRange] = required_ranges(args.resources, unknowns)
    for resource in configmaps:
        subject = describe("ConfigMap", resource.props, resource.name)
        with unknowns.guard(f"{resource.name}."):
            try:
                config = parse_configmap(resource.props, source=f"{subject} data.config")
            except ConfigError as err:
                report_violation(f"{err}: coverage of pod ranges cannot be shown", resource.urn)
                continue
            for required in ranges:
                missing = uncovered_parts(required.cidr, config.non_masquerade_cidrs)
                if missing:
                    report_violation(
                        f"{subject}: nonMasqueradeCIDRs does not cover {required.origin} "
                        f"{required.cidr.with_prefixlen} (uncovered: "
                        f"{', '.join(part.with_prefixlen for part in missing)}); pod traffic "
                        "to it would be masqueraded",
                        resource.urn,
                    )
                for exception, parts in exception_cuts(required.cidr, config):
                    report_violation(
                        f"{subject}: forceMasqueradeCIDRs entry {exception.with_prefixlen} cuts "
                        f"into {required.origin} {required.cidr.with_prefixlen} (masqueraded: "
                        f"{', '.join(part.with_prefixlen for part in parts)}); pod traffic to "
                        "it would be masqueraded",
                        resource.urn,
                    )
    unknowns.raise_if_any()
