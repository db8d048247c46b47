"""The ip-masq-agent ConfigMap's `config` document, read with the agent's own parser."""

from collections.abc import Mapping
from typing import Any

from ip_masq_agent.config import AgentConfig, ConfigError, parse_config
from ip_masq_agent.contract import BACKEND_NFTABLES, CONFIG_MAP_KEY
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


__all__ = ["ConfigError", "config_text", "parse_configmap"]
