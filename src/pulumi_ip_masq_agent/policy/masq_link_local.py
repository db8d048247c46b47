"""masq-link-local: flag configs that masquerade link-local traffic, and say what that breaks."""

from typing import Final

from pulumi_policy import ResourceValidationArgs

from pulumi_ip_masq_agent.policy.agent_object_policy import Report, agent_object_policy
from pulumi_ip_masq_agent.policy.config_document import ConfigError, config_text, parse_configmap
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


@agent_object_policy("ConfigMap")
def validate_masq_link_local(
    subject: str, args: ResourceValidationArgs, report: Report, unknowns: PreviewUnknowns
) -> None:
    """Report masqLinkLocal / masqLinkLocalIPv6 set to true."""
    with unknowns.guard():
        if config_text(args.props) is None:
            return  # nothing set: the default is false
        try:
            config = parse_configmap(args.props, source=f"{subject} data.config")
        except ConfigError:
            return  # ip-masq-config-valid reports the document itself.
        if config.masq_link_local:
            report(f"{subject} data.config: masqLinkLocal is true: {WHY_IPV4}")
        if config.masq_link_local_ipv6:
            report(f"{subject} data.config: masqLinkLocalIPv6 is true: {WHY_IPV6}")
