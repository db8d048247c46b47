"""The ip-masq-agent ConfigMap's `config` document, read with the agent's own parser."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ip_masq_agent.config import AgentConfig, ConfigError, parse_config
from ip_masq_agent.contract import BACKEND_NFTABLES, CONFIG_MAP_KEY
from pulumi_ip_masq_agent.policy.gke_ranges import StackResource
from pulumi_ip_masq_agent.policy.kubernetes_objects import describe, is_agent_configmap
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.policy.props import as_mapping

# Policies judge the document, not the node's flags: accept IPv6 entries here; whether the
# DaemonSet runs with --enable-ipv6 is the agent's own start-up check.
ENABLE_IPV6 = True
# Nor the node's backend: a document is held to the largest limit any backend has (nftables');
# ip-masq-plan-fits-backend holds it to the backend of the DaemonSets that read it.
ALONE_BACKEND = BACKEND_NFTABLES


def config_text(props: Mapping[str, Any]) -> str | None:
    """The raw `data.config` string, None when the key is absent (raises if unknown)."""
    data = as_mapping(props.get("data"))
    if CONFIG_MAP_KEY not in data:
        return None
    value = data[CONFIG_MAP_KEY]
    return value if isinstance(value, str) else str(value)


def parse_configmap(props: Mapping[str, Any], source: str) -> AgentConfig:
    """Parse as the agent would; a missing key means the agent's defaults (`{}`)."""
    text = config_text(props)
    return parse_config(
        "{}" if text is None else text,
        enable_ipv6=ENABLE_IPV6,
        source=source,
        refuse_exempting_everything=True,
        backend=ALONE_BACKEND,
    )


def each_agent_config(
    resources: Sequence[StackResource],
    unknowns: PreviewUnknowns,
    check: Callable[[StackResource, str, AgentConfig], None],
) -> None:
    """`check(resource, subject, config)` on each agent ConfigMap of the stack whose document
    the agent reads, inside the ConfigMap's own unknowns guard. A ConfigMap without the key
    runs on defaults there is nothing to judge in, and a document the agent refuses is
    ip-masq-config-valid's to report: both are skipped."""
    for resource in resources:
        if not is_agent_configmap(resource.resource_type, resource.props):
            continue
        subject = describe("ConfigMap", resource.props, resource.name)
        with unknowns.guard(f"{resource.name}."):
            if config_text(resource.props) is None:
                continue
            try:
                config = parse_configmap(resource.props, source=f"{subject} data.config")
            except ConfigError:
                continue
            check(resource, subject, config)


__all__ = ["ConfigError", "config_text", "each_agent_config", "parse_configmap"]
