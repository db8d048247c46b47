"""Stack configuration, read once into a frozen, validated settings object: the one place
that reads pulumi.Config, and the parse of its raw strings."""

from collections.abc import Mapping

import pulumi

from pulumi_ip_masq_agent.ip_masq_agent import Backend
from pulumi_ip_masq_agent.monitoring import Monitoring
from pulumi_ip_masq_agent.pulumi_sdk import stack_config_keys
from pulumi_ip_masq_agent.settings_checks import check_derivation, check_settings
from pulumi_ip_masq_agent.settings_delivery import resolve_delivery
from pulumi_ip_masq_agent.settings_model import (
    DEFAULTS,
    PROJECT,
    Settings,
    SettingsError,
    SubnetPath,
)
from pulumi_ip_masq_agent.settings_reader import (
    RENAMED_KEYS,
    SettingsReader,
    monitoring_labels,
    subnet_path,
)

# What programs and tests import from here; each lives in the module named for it.
__all__ = [
    "DEFAULTS",
    "PROJECT",
    "RENAMED_KEYS",
    "Settings",
    "SettingsError",
    "SubnetPath",
    "check_derivation",
    "parse_settings",
    "read_settings",
]


def parse_settings(raw: Mapping[str, str], *, gcp: Mapping[str, str] | None = None) -> Settings:
    """Validate raw config (key without namespace -> string) into Settings, or SettingsError."""
    read = SettingsReader(raw)
    gcp = gcp or {}
    existing_subnet_text = read.optional("existingSubnet")
    delivery = resolve_delivery(read)
    settings = Settings(
        cluster=delivery.cluster,
        platform=delivery.platform,
        autopilot=delivery.autopilot,
        subnet_cidr=read.optional("subnetCidr"),
        pods_cidr=read.optional("podsCidr"),
        pods_range_name=read.text("podsRangeName"),
        services_cidr=read.optional("servicesCidr"),
        services_range_name=read.text("servicesRangeName"),
        additional_pods_cidrs=read.strings("additionalPodsCidrs"),
        existing_subnet=subnet_path(existing_subnet_text),
        ipv6_ula_range=read.optional("ipv6UlaRange"),
        cluster_name=read.text("clusterName"),
        dataplane=delivery.dataplane,
        control_plane_cidr=read.optional("controlPlaneCidr"),
        private_nodes=read.flag("privateNodes"),
        extra_non_masquerade_cidrs=read.strings("extraNonMasqueradeCidrs"),
        force_masquerade_cidrs=read.strings("forceMasqueradeCidrs"),
        masq_link_local=read.flag("masqLinkLocal"),
        masq_link_local_ipv6=read.flag("masqLinkLocalIpv6"),
        resync_interval=read.text("resyncInterval"),
        cidr_limit=read.integer("cidrLimit"),
        agent_image=read.optional("image"),
        agent_backend=read.choice("backend", tuple(b.value for b in Backend)),  # type: ignore[arg-type]
        agent_phase=read.choice("agentPhase", ("run", "cleanup")),  # type: ignore[arg-type]
        monitoring=Monitoring(read.choice("monitoring", tuple(Monitoring))),
        monitoring_labels=monitoring_labels(read.strings("monitoringLabels")),
        grafana_dashboard=read.flag("grafanaDashboard"),
        gcp_project=gcp.get("project") or None,
        gcp_region=gcp.get("region") or None,
        deprecations=delivery.deprecations + read.notes,
    )
    check_settings(settings)
    return settings


def _project_keys() -> set[str]:
    """Every key the stack sets in this project's namespace, declared in Pulumi.yaml or not."""
    prefix = f"{PROJECT}:"
    keys = stack_config_keys()
    return {key.removeprefix(prefix) for key in keys if key.startswith(prefix)}


def read_settings() -> Settings:
    """Read this stack's config (the one place that does) and validate it."""
    project_config = pulumi.Config(PROJECT)
    # Undeclared keys go to the parser too: a misspelt range key (`extraNonMasqueradeCIDRs`)
    # must fail, not be ignored, or the range it names would silently be masqueraded.
    names = sorted(set(DEFAULTS) | _project_keys())
    raw = {name: value for name in names if (value := project_config.get(name)) is not None}
    gcp_config = pulumi.Config("gcp")
    gcp = {name: value for name in ("project", "region") if (value := gcp_config.get(name))}
    settings = parse_settings(raw, gcp=gcp)
    for note in settings.deprecations:
        pulumi.warn(note)
    return settings
