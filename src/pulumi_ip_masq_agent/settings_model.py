"""The stack's settings as values: the keys with their defaults, the frozen `Settings` and
the error that names a key."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import pulumi

from ip_masq_agent.contract import (
    BACKEND_AUTO,
    DEFAULT_CIDR_LIMIT,
    DEFAULT_RESYNC_INTERVAL,
    BackendName,
)
from pulumi_ip_masq_agent.agent_config import AgentConfigValues
from pulumi_ip_masq_agent.ip_masq_agent import fitted_cidr_limit
from pulumi_ip_masq_agent.monitoring import DEFAULT_SELECTOR_LABELS, Monitoring
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range, stack_range

PROJECT: Final = "ip-masq-agent"

# Defaults as declared in Pulumi.yaml (a test keeps the two equal); None means "no default".
DEFAULTS: Final[Mapping[str, str | bool | int | list[str] | None]] = {
    "cluster": "",
    "platform": "",
    "autopilot": False,
    "subnetCidr": "",
    "podsCidr": "",
    "podsRangeName": "pods",
    "servicesCidr": "",
    "servicesRangeName": "services",
    "additionalPodsCidrs": [],
    "existingSubnet": "",
    "ipv6UlaRange": "",
    "clusterName": "",
    "dataplane": "",
    "controlPlaneCidr": "",
    "privateNodes": True,
    "extraNonMasqueradeCidrs": [],
    "forceMasqueradeCidrs": [],
    "masqLinkLocal": False,
    "masqLinkLocalIpv6": False,
    "resyncInterval": DEFAULT_RESYNC_INTERVAL,
    "cidrLimit": DEFAULT_CIDR_LIMIT,
    "deployAgent": True,
    "image": "",
    "backend": BACKEND_AUTO,
    "agentPhase": "run",
    "monitoring": "none",
    "monitoringLabels": [f"{name}={value}" for name, value in DEFAULT_SELECTOR_LABELS.items()],
    "grafanaDashboard": False,
}


class SettingsError(pulumi.RunError):
    """Bad stack configuration; one line naming the key and the value (RunError: no traceback)."""


@dataclass(frozen=True)
class SubnetPath:
    """An adopted subnet's coordinates, parsed from `existingSubnet`."""

    project: str
    region: str
    name: str

    def __str__(self) -> str:
        return f"projects/{self.project}/regions/{self.region}/subnetworks/{self.name}"


@dataclass(frozen=True)
class Settings:
    """Every stack config value the program uses, typed and validated."""

    cluster: Literal["gke", "existing"]
    """What the program provisions: `gke` (VPC, subnet, cluster) or `existing` (kubeconfig)."""
    platform: Platform
    """How the list reaches the nodes (the component's `platform`), consistent with the cluster."""
    autopilot: bool
    subnet_cidr: str | None
    pods_cidr: str | None
    pods_range_name: str
    services_cidr: str | None
    services_range_name: str
    additional_pods_cidrs: tuple[str, ...]
    existing_subnet: SubnetPath | None
    ipv6_ula_range: str | None
    cluster_name: str
    dataplane: Literal["legacy", "v2"]
    """The cluster's dataplane (v2 on Autopilot)."""
    control_plane_cidr: str | None
    private_nodes: bool
    extra_non_masquerade_cidrs: tuple[str, ...]
    force_masquerade_cidrs: tuple[str, ...]
    masq_link_local: bool
    masq_link_local_ipv6: bool
    resync_interval: str
    cidr_limit: int
    agent_image: str | None
    agent_backend: BackendName
    agent_phase: Literal["run", "cleanup"]
    """`cleanup`: the uninstall phase, our DaemonSet removes its rules from every node."""
    monitoring: Monitoring
    monitoring_labels: tuple[tuple[str, str], ...]
    grafana_dashboard: bool
    gcp_project: str | None
    gcp_region: str | None
    deprecations: tuple[str, ...] = ()
    """Deprecated keys in use, one line each: read_settings warns them."""

    @property
    def dual_stack(self) -> bool:
        """IPv6 is on when the VPC has an internal IPv6 range."""
        return self.ipv6_ula_range is not None

    @property
    def runs_daemon_set(self) -> bool:
        """Our agent runs only on gke-standard; the other platforms have their own reader."""
        return self.platform.runs_our_agent

    def monitoring_label_map(self) -> dict[str, str]:
        """The PodMonitor's and PrometheusRule's labels."""
        return dict(self.monitoring_labels)

    def ipv4_ranges(self) -> list[Range]:
        """The cluster's own ranges from config: GKE allocates these from IPv4 only."""
        sources = [
            stack_range(config_key(key), value)
            for key, value in (
                ("subnetCidr", self.subnet_cidr),
                ("podsCidr", self.pods_cidr),
                ("servicesCidr", self.services_cidr),
                ("controlPlaneCidr", self.control_plane_cidr),
            )
            if value is not None
        ]
        return sources + indexed_ranges("additionalPodsCidrs", self.additional_pods_cidrs)

    def config_ranges(self) -> list[Range]:
        """The non-masquerade ranges stated in config (an adopted subnet adds its live ranges)."""
        sources = self.ipv4_ranges()
        if self.ipv6_ula_range is not None:
            sources.append(stack_range(config_key("ipv6UlaRange"), self.ipv6_ula_range))
        return sources + indexed_ranges("extraNonMasqueradeCidrs", self.extra_non_masquerade_cidrs)

    def config_only_ranges(self) -> list[Range]:
        """On GKE, the ranges no provisioned resource carries: extras, and an adopted VPC's ULA."""
        sources = indexed_ranges("extraNonMasqueradeCidrs", self.extra_non_masquerade_cidrs)
        if self.existing_subnet is not None and self.ipv6_ula_range is not None:
            sources.append(stack_range(config_key("ipv6UlaRange"), self.ipv6_ula_range))
        return sources

    @property
    def fitted_cidr_limit(self) -> bool:
        """GKE's managed agent at the default cidrLimit: the document states one the list fits
        (the component's rule), so the default does not bound the derived list."""
        return (
            self.platform is Platform.GKE_MANAGED_AGENT and self.cidr_limit == DEFAULTS["cidrLimit"]
        )

    def agent_config_values(self, cidrs: tuple[str, ...]) -> AgentConfigValues:
        """The agent's config document for these derived CIDRs."""
        limit = fitted_cidr_limit(len(cidrs)) if self.fitted_cidr_limit else self.cidr_limit
        return AgentConfigValues(
            non_masquerade_cidrs=cidrs,
            masq_link_local=self.masq_link_local,
            masq_link_local_ipv6=self.masq_link_local_ipv6,
            resync_interval=self.resync_interval,
            cidr_limit=limit,
            force_masquerade_cidrs=self.force_masquerade_cidrs,
        )


def config_key(name: str) -> str:
    """The stack config key of a setting, in this project's namespace."""
    return f"{PROJECT}:{name}"


def indexed_ranges(name: str, values: tuple[str, ...]) -> list[Range]:
    """A list setting's entries as ranges, each labelled with its key and index."""
    return [stack_range(f"{config_key(name)}[{i}]", value) for i, value in enumerate(values)]
