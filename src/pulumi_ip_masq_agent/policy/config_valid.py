"""ip-masq-config-valid: the ConfigMap's document is one the agent accepts, and a sane one."""

from collections.abc import Mapping
from typing import Any, Final

from pulumi_policy import ReportViolation, ResourceValidationArgs

from ip_masq_agent.duration import parse_go_duration
from pulumi_ip_masq_agent.policy.config_document import ConfigError, config_text, parse_configmap
from pulumi_ip_masq_agent.policy.kubernetes_objects import (
    CONFIGMAP_PATCH,
    describe,
    is_agent_configmap,
)
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns

NAME: Final = "ip-masq-config-valid"
DEFAULT_MIN_RESYNC: Final = "5s"
DEFAULT_MAX_RESYNC: Final = "10m"
CONFIG_SCHEMA: Final[dict[str, dict[str, Any]]] = {
    "minResyncInterval": {
        "type": "string",
        "default": DEFAULT_MIN_RESYNC,
        "description": "Shortest resyncInterval allowed (Go duration, e.g. 5s).",
    },
    "maxResyncInterval": {
        "type": "string",
        "default": DEFAULT_MAX_RESYNC,
        "description": "Longest resyncInterval allowed (Go duration, e.g. 10m).",
    },
}


def _bound(config: Mapping[str, Any], key: str, default: str) -> tuple[str, float]:
    raw = str(config.get(key, default))
    try:
        return raw, parse_go_duration(raw)
    except ValueError:
        raise ValueError(
            f"policy config {NAME}.{key}: {raw!r} is not a duration (want e.g. 5s, 10m)"
        ) from None


def validate_ip_masq_config(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Parse `data.config` with the agent's parser (which also refuses a list exempting
    every destination, `0.0.0.0/0` or halves merging into it); bound resyncInterval."""
    if not is_agent_configmap(args.resource_type, args.props):
        return
    subject = describe("ConfigMap", args.props, args.name)
    min_raw, min_seconds = _bound(args.get_config(), "minResyncInterval", DEFAULT_MIN_RESYNC)
    max_raw, max_seconds = _bound(args.get_config(), "maxResyncInterval", DEFAULT_MAX_RESYNC)
    unknowns = PreviewUnknowns(subject)
    with unknowns.guard():
        if config_text(args.props) is None:
            if args.resource_type == CONFIGMAP_PATCH:
                return  # a patch without data.config leaves the document as it is
            report_violation(
                f"{subject}: data.config is missing, so the agent silently runs on its built-in "
                "defaults; write the intended nonMasqueradeCIDRs into data.config",
                None,
            )
            return
        try:
            config = parse_configmap(args.props, source=f"{subject} data.config")
        except ConfigError as err:
            report_violation(f"{err} (the agent would reject this config)", None)
            return
        for warning in config.warnings:
            # The parser's other warning (an exception inside no kept range) says why itself.
            why = ": a misspelt key leaves its default in force" if "unknown key" in warning else ""
            report_violation(f"{warning}{why}", None)
        if not min_seconds <= config.resync_interval <= max_seconds:
            report_violation(
                f"{subject} data.config: resyncInterval {config.resync_interval:g}s is outside "
                f"{min_raw}..{max_raw} (policy config {NAME}.minResyncInterval/maxResyncInterval)",
                None,
            )
    unknowns.raise_if_any()
