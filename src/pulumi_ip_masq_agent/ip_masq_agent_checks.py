"""The IpMasqAgent's plain-argument checks, run before any resource is registered: unknown
keys, choices, counts, the platform and phase, and what Autopilot has no agent for."""

import warnings
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import pulumi

from pulumi_ip_masq_agent.agent_options import AgentPhase, Backend, minimum_memory_limit
from pulumi_ip_masq_agent.arguments import (
    check_choice,
    check_count,
    check_known,
    check_list,
    check_resources,
    check_text,
)
from pulumi_ip_masq_agent.ip_masq_agent_args import IpMasqAgentArgs
from pulumi_ip_masq_agent.monitoring import Monitoring
from pulumi_ip_masq_agent.platform import Platform, PlatformError, resolve_component_platform

# The settings only an agent reading the ConfigMap knows: none of them exists on Autopilot,
# where an EgressNATPolicy holds the list and no agent of ours or config of upstream's runs.
AGENT_ONLY_ARGUMENTS: Final = (
    "image",
    "backend",
    "resync_interval",
    "cidr_limit",
    "masq_link_local",
    "masq_link_local_ipv6",
    "force_masquerade_cidrs",
    "monitoring",
    "monitoring_labels",
    "grafana_dashboard",
)


def check_arguments(name: str, args: IpMasqAgentArgs) -> None:
    """Unknown keys and plain values that cannot work, before any resource is registered."""
    where = f"IpMasqAgent {name}"
    check_known(where, args, IpMasqAgentArgs)
    check_list(where, "ranges", args["ranges"], non_empty=True)
    check_agent_settings(where, args)


def check_agent_settings(where: str, args: Mapping[str, Any]) -> None:
    """IpMasqAgent's arguments but `ranges`, as plain values allow: also what a deriving
    component (GkeIpMasqAgent) passes through, checked under its own name up front."""
    if "resources" in args:
        check_resources(
            where, args["resources"], minimum_memory=minimum_memory_limit(args.get("backend"))
        )
    if "image" in args:
        check_text(where, "image", args["image"])
    for key, allowed in (
        ("backend", [b.value for b in Backend]),
        ("platform", [p.value for p in Platform]),
        ("agent_phase", [p.value for p in AgentPhase]),
        ("monitoring", [m.value for m in Monitoring]),
    ):
        if key in args:
            check_choice(where, key, args[key], allowed)
    for key in ("force_masquerade_cidrs", "tolerations", "image_pull_secrets"):
        if key in args:
            check_list(where, key, args[key])
    if "cidr_limit" in args:
        check_count(where, "cidr_limit", args["cidr_limit"])
    if "log_verbosity" in args:
        check_count(where, "log_verbosity", args["log_verbosity"])
    if "priority_class_name" in args:
        check_text(where, "priority_class_name", args["priority_class_name"])


def agent_phase(name: str, args: IpMasqAgentArgs) -> AgentPhase:
    phase = plain(name, args, "agent_phase", str, AgentPhase.RUN.value)
    if phase not in set(AgentPhase):
        raise ValueError(
            f"IpMasqAgent {name}: agent_phase {phase!r} is not one of "
            + ", ".join(p.value for p in AgentPhase)
        )
    return AgentPhase(phase)


def component_platform(name: str, args: IpMasqAgentArgs) -> Platform:
    """The platform from `platform` or the deprecated pair; each deprecation is warned once
    here (engine log and Python's warnings), a contradiction raised."""
    where = f"IpMasqAgent {name}"
    platform = plain_or_none(name, args, "platform", str)
    dataplane = plain_or_none(name, args, "dataplane", str)
    deploy = plain_or_none(name, args, "deploy_daemon_set", bool)
    try:
        choice = resolve_component_platform(
            where=where, platform=platform, dataplane=dataplane, deploy_daemon_set=deploy
        )
    except PlatformError as err:
        raise PlatformError(str(err)) from None
    for note in choice.deprecations:
        warnings.warn(note, DeprecationWarning, stacklevel=3)
        pulumi.warn(note)
    return choice.platform


def check_autopilot(name: str, args: IpMasqAgentArgs) -> None:
    """Autopilot refuses every write to kube-system and runs no agent of ours: an agent-only
    argument would be silently meaningless, so it is an error naming the argument."""
    for key in AGENT_ONLY_ARGUMENTS:
        if key in args:
            raise ValueError(
                f"IpMasqAgent {name}: {key} is an agent setting, which platform 'gke-autopilot' "
                "has no agent for (GKE Autopilot keeps pod IPs by EgressNATPolicy only): "
                f"remove {key}"
            )


P = TypeVar("P", bool, str)


def plain_or_none(name: str, args: IpMasqAgentArgs, key: str, kind: type[P]) -> P | None:
    """A plain value when given (it decides which resources exist), else None."""
    if key not in args:
        return None
    return plain(name, args, key, kind, kind())


def plain(name: str, args: IpMasqAgentArgs, key: str, kind: type[P], default: P) -> P:
    """A plain value: it decides which resources exist, which an Output cannot do in preview
    (an Output is always truthy)."""
    value = args.get(key, default)
    if not isinstance(value, kind):
        raise TypeError(
            f"IpMasqAgent {name}: {key} must be a plain {kind.__name__}, not "
            f"{type(value).__name__} (it decides which resources exist: decide it from config, "
            "not from an Output)"
        )
    return value
