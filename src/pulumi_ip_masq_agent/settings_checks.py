"""The stack settings' cross-key rules, and the whole derivation when config knows every range."""

import re
from collections.abc import Callable
from typing import Final, TypeVar

from ip_masq_agent.duration import parse_go_duration
from ip_masq_agent.prefixes import Prefix
from pulumi_ip_masq_agent.agent_config import ConfigError, render_agent_config
from pulumi_ip_masq_agent.cidrs import (
    CidrError,
    derive_non_masquerade_cidrs,
    parse_cidr,
    parse_ranges,
)
from pulumi_ip_masq_agent.ip_masq_agent import NO_CIDR_LIMIT
from pulumi_ip_masq_agent.monitoring import Monitoring
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range, describe, known_cidr, stack_range
from pulumi_ip_masq_agent.settings_model import DEFAULTS, Settings, SettingsError
from pulumi_ip_masq_agent.settings_model import config_key as _key

# GCP allocates internal IPv6 (ULA) ranges for VPCs as /48s out of fd20::/20.
_GCP_ULA_POOL: Final = "fd20::/20"
_RANGE_NAME: Final = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def check_settings(settings: Settings) -> None:
    """Cross-key rules, then the whole derivation when every range is known from config."""
    if settings.platform is Platform.GKE_AUTOPILOT:
        _check_autopilot(settings)  # first: its message says why the key has no place at all
    if settings.agent_phase == "cleanup" and not settings.runs_daemon_set:
        raise SettingsError(
            f"{_key('agentPhase')}: 'cleanup' runs our agent's DaemonSet, which platform "
            f"{settings.platform.value!r} does not deploy (clean up on gke-standard first)"
        )
    _check_values(settings)
    _check_families(settings)
    _check_exceptions(settings)
    _check_cluster(settings)
    if settings.existing_subnet is None:
        # Every range is in config: derive now so a bad stack fails before any resource exists.
        check_derivation(settings, settings.config_ranges())
    else:
        # The subnet's ranges come later; those in config must already pass on their own.
        _wrap(
            lambda: parse_ranges(
                settings.config_ranges(),
                ipv6_enabled=settings.dual_stack,
                ipv6_switch="ipv6UlaRange",
            )
        )


def check_derivation(settings: Settings, sources: list[Range]) -> tuple[str, ...]:
    """Derive the CIDRs and render the agent document; SettingsError names what is wrong."""

    def derive() -> tuple[str, ...]:
        cidrs = derive_non_masquerade_cidrs(
            sources,
            ipv6_enabled=settings.dual_stack,
            cidr_limit=NO_CIDR_LIMIT if settings.fitted_cidr_limit else settings.cidr_limit,
            ipv6_switch="ipv6UlaRange",
            limit_name="cidrLimit",
        )
        render_agent_config(
            settings.agent_config_values(cidrs),
            enable_ipv6=settings.dual_stack,
            backend=settings.agent_backend,
        )
        return cidrs

    return _wrap(derive)


def _parse(source: Range, *, ipv6_enabled: bool) -> Prefix:
    try:
        return parse_cidr(
            known_cidr(source),
            where=describe(source),
            ipv6_enabled=ipv6_enabled,
            ipv6_switch="ipv6UlaRange",
        )
    except CidrError as err:
        raise SettingsError(str(err)) from None


T = TypeVar("T")


def _wrap(action: Callable[[], T]) -> T:
    try:
        return action()
    except CidrError as err:
        raise SettingsError(str(err)) from None
    except ConfigError as err:
        raise SettingsError(f"{err} (check the ip-masq-agent:* agent settings)") from None


def _check_values(settings: Settings) -> None:
    try:
        seconds = parse_go_duration(settings.resync_interval)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise SettingsError(
            f"{_key('resyncInterval')}: {settings.resync_interval!r} is not a positive duration "
            "(want e.g. 60s, 5m, 1h30m)"
        )
    if settings.monitoring.scrapes and not settings.runs_daemon_set:
        raise SettingsError(
            f"{_key('monitoring')}: '{settings.monitoring.value}' scrapes our agent's DaemonSet, "
            f"which platform {settings.platform.value} does not deploy"
        )
    if settings.grafana_dashboard and not settings.monitoring.scrapes:
        raise SettingsError(
            f"{_key('grafanaDashboard')}: true needs monitoring: podmonitor or gmp (without it "
            "nothing scrapes the metrics the dashboard shows)"
        )
    if settings.cidr_limit < 1:
        raise SettingsError(f"{_key('cidrLimit')}: {settings.cidr_limit} must be at least 1")
    for name, value in (
        ("podsRangeName", settings.pods_range_name),
        ("servicesRangeName", settings.services_range_name),
    ):
        if not _RANGE_NAME.fullmatch(value):
            raise SettingsError(f"{_key(name)}: {value!r} is not a valid GCP range name")
    if settings.pods_range_name == settings.services_range_name:
        raise SettingsError(
            f"{_key('servicesRangeName')}: {settings.services_range_name!r} equals podsRangeName"
        )


def _check_cluster(settings: Settings) -> None:
    if settings.cluster == "existing":
        if settings.existing_subnet is not None:
            raise SettingsError(
                f"{_key('existingSubnet')}: only for cluster gke (cluster is existing)"
            )
        if settings.pods_cidr is None:
            raise SettingsError(f"{_key('podsCidr')}: required when cluster is existing")
        if settings.runs_daemon_set and settings.agent_image is None:
            raise SettingsError(
                f"{_key('image')}: required when cluster is existing "
                "(no Artifact Registry to push a build to)"
            )
        return
    if not settings.cluster_name:
        raise SettingsError(f"{_key('clusterName')}: required when cluster is gke")
    if settings.existing_subnet is not None:
        for name, value in (
            ("subnetCidr", settings.subnet_cidr),
            ("podsCidr", settings.pods_cidr),
            ("servicesCidr", settings.services_cidr),
        ):
            if value is not None:
                raise SettingsError(
                    f"{_key(name)}: {value!r} must be absent with existingSubnet "
                    "(the adopted subnet's live ranges are used)"
                )
        if settings.additional_pods_cidrs:
            raise SettingsError(
                f"{_key('additionalPodsCidrs')}: must be absent with existingSubnet "
                "(every secondary range of the adopted subnet is read from it)"
            )
    else:
        for name, value in (
            ("subnetCidr", settings.subnet_cidr),
            ("podsCidr", settings.pods_cidr),
            ("servicesCidr", settings.services_cidr),
        ):
            if value is None:
                raise SettingsError(f"{_key(name)}: required when cluster is gke")
        if settings.gcp_region is None:
            raise SettingsError("gcp:region: required when cluster is gke (the cluster's region)")
    if settings.control_plane_cidr is not None:
        if not settings.private_nodes:
            raise SettingsError(
                f"{_key('controlPlaneCidr')}: {settings.control_plane_cidr!r} needs privateNodes: "
                "true (GKE reserves a control-plane range only for private clusters)"
            )
        # Refused already by _check_families if it is no CIDR: here only its length counts.
        source = stack_range(_key("controlPlaneCidr"), settings.control_plane_cidr)
        if _parse(source, ipv6_enabled=True).length != 28:
            raise SettingsError(
                f"{_key('controlPlaneCidr')}: {settings.control_plane_cidr!r} must be a /28 on GKE"
            )


# Keys only an agent reading the ConfigMap acts on, with the attribute holding each.
_AGENT_ONLY_KEYS: Final = (
    ("forceMasqueradeCidrs", "force_masquerade_cidrs"),
    ("image", "agent_image"),
    ("backend", "agent_backend"),
    ("agentPhase", "agent_phase"),
    ("resyncInterval", "resync_interval"),
    ("cidrLimit", "cidr_limit"),
    ("masqLinkLocal", "masq_link_local"),
    ("masqLinkLocalIpv6", "masq_link_local_ipv6"),
    ("monitoring", "monitoring"),
    ("monitoringLabels", "monitoring_labels"),
    ("grafanaDashboard", "grafana_dashboard"),
)


def _check_autopilot(settings: Settings) -> None:
    """No agent runs and nothing goes to kube-system (Autopilot refuses the write): a key that
    only means something to an agent is an error, not silently dropped."""
    for key, attribute in _AGENT_ONLY_KEYS:
        value = _as_config(getattr(settings, attribute))
        if value != DEFAULTS[key]:
            raise SettingsError(
                f"{_key(key)}: {value!r} is an agent setting, and platform gke-autopilot runs no "
                "agent (GKE Autopilot takes the list as an EgressNATPolicy): remove it"
            )


def _as_config(value: object) -> object:
    """A settings value as Pulumi.yaml writes its default, to compare the two."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return [f"{v[0]}={v[1]}" if isinstance(v, tuple) else v for v in value]
    if isinstance(value, Monitoring):
        return value.value
    return value


def _check_exceptions(settings: Settings) -> None:
    """Each exception is a CIDR the agent accepts, named by its stack key (the agent's parser)."""
    for index, text in enumerate(settings.force_masquerade_cidrs):
        where = f"{_key('forceMasqueradeCidrs')}[{index}]"
        try:
            network = parse_cidr(text, where=where)
        except CidrError as err:
            raise SettingsError(str(err)) from None
        if network.version == 6 and not settings.dual_stack:
            raise SettingsError(
                f"{where}: {text!r} is IPv6 but the stack is not dual-stack (no ipv6UlaRange)"
            )


def _check_families(settings: Settings) -> None:
    """GKE's node, pod, service and control-plane ranges are IPv4; the ULA range is IPv6."""
    for source in settings.ipv4_ranges():
        network = _parse(source, ipv6_enabled=True)
        if network.version != 4:
            raise SettingsError(
                f"{describe(source)}: {source['cidr']!r} must be IPv4 "
                "(IPv6 ranges go in ipv6UlaRange or extraNonMasqueradeCidrs)"
            )
    if settings.ipv6_ula_range is not None:
        source = stack_range(_key("ipv6UlaRange"), settings.ipv6_ula_range)
        network = _parse(source, ipv6_enabled=True)
        if network.version != 6:
            raise SettingsError(f"{describe(source)}: {source['cidr']!r} must be an IPv6 range")
        if settings.cluster == "gke" and (
            network.length != 48 or not Prefix.parse(_GCP_ULA_POOL).contains(network)
        ):
            raise SettingsError(
                f"{describe(source)}: {source['cidr']!r} "
                f"must be a /48 inside {_GCP_ULA_POOL} on GKE"
            )
