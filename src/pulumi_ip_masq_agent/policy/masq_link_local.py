"""masq-link-local: flag configs that masquerade link-local traffic, and say what that breaks."""

from typing import Final

from pulumi_policy import ReportViolation, ResourceValidationArgs

from pulumi_ip_masq_agent.policy.config_document import ConfigError, config_text, parse_configmap
from pulumi_ip_masq_agent.policy.kubernetes_objects import describe, is_agent_configmap
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns

NAME: Final = "masq-link-local"
WHY_IPV4: Final = (
    "pod traffic to 169.254.0.0/16 would leave with the node's address, so the GKE metadata "
    "server (169.254.169.254) can no longer tell pods apart: Workload Identity answers with the "
    "node's identity or fails"
)
WHY_IPV6: Final = (
    "pod traffic to fe80::/10 would be SNATed to the node's address, which link-local peers "
    "neither expect nor can reach back"
)


def validate_masq_link_local(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Report masqLinkLocal / masqLinkLocalIPv6 set to true."""
    if not is_agent_configmap(args.resource_type, args.props):
        return
    subject = describe("ConfigMap", args.props, args.name)
    unknowns = PreviewUnknowns(subject)
    with unknowns.guard():
        if config_text(args.props) is None:
            return  # nothing set: the default is false
        try:
            config = parse_configmap(args.props, source=f"{subject} data.config")
        except ConfigError:
            return  # ip-masq-config-valid reports the document itself.
        if config.masq_link_local:
            report_violation(f"{subject} data.config: masqLinkLocal is true: {WHY_IPV4}", None)
        if config.masq_link_local_ipv6:
            report_violation(f"{subject} data.config: masqLinkLocalIPv6 is true: {WHY_IPV6}", None)
    unknowns.raise_if_any()
