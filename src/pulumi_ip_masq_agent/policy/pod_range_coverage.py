"""non-masquerade-covers-pod-ranges: no pod or service range is left to be masqueraded."""

from collections.abc import Sequence
from typing import Final

from pulumi_policy import ReportViolation, StackValidationArgs

from ip_masq_agent.config import AgentConfig
from ip_masq_agent.prefixes import Prefix, PrefixSet
from pulumi_ip_masq_agent.cidrs import read_network, uncovered
from pulumi_ip_masq_agent.policy.config_document import ConfigError, config_text, parse_configmap
from pulumi_ip_masq_agent.policy.gke_ranges import StackResource, required_ranges
from pulumi_ip_masq_agent.policy.kubernetes_objects import (
    CONFIGMAP_PATCH,
    describe,
    is_agent_configmap,
)
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.ranges import Range, known_cidr
from pulumi_ip_masq_agent.ranges import describe as describe_range

NAME: Final = "non-masquerade-covers-pod-ranges"


def exception_cuts(required: Prefix, config: AgentConfig) -> list[tuple[Prefix, list[Prefix]]]:
    """(exception, parts of `required` it masquerades) for every forceMasqueradeCIDRs entry
    that takes addresses of `required` away from the kept ranges: judged on the agent's plan."""
    version = required.version
    kept = [c for c in config.non_masquerade_cidrs if c.version == version]
    excepted = [c for c in config.force_masquerade_cidrs if c.version == version]
    if not excepted:
        return []
    effective = PrefixSet.non_masquerade(kept, excepted)
    kept_set = PrefixSet(kept)
    cuts = []
    for exception in excepted:
        # CIDRs nest or are apart: the overlap is the smaller of the two.
        if required.contains(exception):
            overlap = exception
        elif exception.contains(required):
            overlap = required
        else:
            continue
        # Parts no kept range covers at all are the plain coverage gap, reported on their own.
        parts = (PrefixSet([overlap]) - (PrefixSet([overlap]) - kept_set) - effective).prefixes()
        if parts:
            cuts.append((exception, list(parts)))
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
    ranges: list[Range] = required_ranges(args.resources, unknowns)
    for resource in configmaps:
        subject = describe("ConfigMap", resource.props, resource.name)
        with unknowns.guard(f"{resource.name}."):
            try:
                config = parse_configmap(resource.props, source=f"{subject} data.config")
            except ConfigError as err:
                report_violation(f"{err}: coverage of pod ranges cannot be shown", resource.urn)
                continue
            covering = config.non_masquerade_cidrs
            for required in ranges:
                cidr = read_network(known_cidr(required))
                if cidr is None:
                    continue  # required_ranges holds only ranges it could read
                missing = uncovered(cidr, covering)
                if missing:
                    report_violation(
                        f"{subject}: nonMasqueradeCIDRs does not cover {describe_range(required)} "
                        f"{cidr} (uncovered: "
                        f"{', '.join(str(part) for part in missing)}); pod traffic "
                        "to it would be masqueraded",
                        resource.urn,
                    )
                for exception, parts in exception_cuts(cidr, config):
                    report_violation(
                        f"{subject}: forceMasqueradeCIDRs entry {exception} cuts "
                        f"into {describe_range(required)} {cidr} (masqueraded: "
                        f"{', '.join(str(part) for part in parts)}); pod traffic to "
                        "it would be masqueraded",
                        resource.urn,
                    )
    unknowns.raise_if_any()
