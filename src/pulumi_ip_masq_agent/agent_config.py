"""The agent's ConfigMap document, checked by the agent's own parser (one schema, one validator)."""

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from ip_masq_agent.config import ConfigError, parse_config
from ip_masq_agent.contract import BACKEND_AUTO


@dataclass(frozen=True)
class AgentConfigValues:
    """What goes into the agent's config file, in upstream's format."""

    non_masquerade_cidrs: Sequence[str]
    masq_link_local: bool
    masq_link_local_ipv6: bool
    resync_interval: str
    cidr_limit: int
    force_masquerade_cidrs: Sequence[str] = ()
    """Exceptions masqueraded inside the kept ranges; only this project's agent knows the key."""


def render_agent_config(
    values: AgentConfigValues, *, enable_ipv6: bool, backend: str = BACKEND_AUTO
) -> str:
    """The YAML for ConfigMap key `config`; ConfigError if the agent running `backend` (the
    DaemonSet's `--backend`) would refuse it."""
    document: dict[str, object] = {
        "nonMasqueradeCIDRs": list(values.non_masquerade_cidrs),
        "masqLinkLocal": values.masq_link_local,
        "masqLinkLocalIPv6": values.masq_link_local_ipv6,
        "resyncInterval": values.resync_interval,
        "cidrLimit": values.cidr_limit,
    }
    if values.force_masquerade_cidrs:
        # Absent unless used: without it the document is exactly what upstream's agent reads.
        document["forceMasqueradeCIDRs"] = list(values.force_masquerade_cidrs)
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    parse_config(
        text,
        enable_ipv6=enable_ipv6,
        source="ConfigMap kube-system/ip-masq-agent",
        refuse_exempting_everything=True,
        backend=backend,
    )
    return text


__all__ = ["AgentConfigValues", "ConfigError", "render_agent_config"]
