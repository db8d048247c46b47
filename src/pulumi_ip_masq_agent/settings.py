"""Stack configuration, read once into a frozen, validated settings object."""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

import pulumi

from ip_masq_agent.duration import parse_go_duration
from ip_masq_agent.prefixes import Prefix
from pulumi_ip_masq_agent.agent_config import AgentConfigValues, ConfigError, render_agent_config
from pulumi_ip_masq_agent.arguments import closest
from pulumi_ip_masq_agent.cidrs import (
    CidrError,
    derive_non_masquerade_cidrs,
    parse_cidr,
    parse_ranges,
)
from pulumi_ip_masq_agent.ip_masq_agent import NO_CIDR_LIMIT, Backend, fitted_cidr_limit
from pulumi_ip_masq_agent.monitoring import DEFAULT_SELECTOR_LABELS, Monitoring, label_problem
from pulumi_ip_masq_agent.platform import Platform, allowed_platforms
from pulumi_ip_masq_agent.pulumi_sdk import stack_config_keys
from pulumi_ip_masq_agent.ranges import Range, describe, known_cidr, stack_range

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
    "resyncInterval": "60s",
    "cidrLimit": 64,
    "deployAgent": True,
    "image": "",
    "backend": "auto",
    "agentPhase": "run",
    "monitoring": "none",
    "monitoringLabels": [f"{name}={value}" for name, value in DEFAULT_SELECTOR_LABELS.items()],
    "grafanaDashboard": False,
}

_SUBNET_PATH: Final = re.compile(r"projects/([^/]+)/regions/([^/]+)/subnetworks/([^/]+)")
# GCP allocates internal IPv6 (ULA) ranges for VPCs as /48s out of fd20::/20.
_GCP_ULA_POOL: Final = "fd20::/20"
_RANGE_NAME: Final = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


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
    agent_backend: Literal["auto", "iptables", "nftables", "iptables-nft", "iptables-legacy"]
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
            stack_range(_key(key), value)
            for key, value in (
                ("subnetCidr", self.subnet_cidr),
                ("podsCidr", self.pods_cidr),
                ("servicesCidr", self.services_cidr),
                ("controlPlaneCidr", self.control_plane_cidr),
            )
            if value is not None
        ]
        return sources + _indexed("additionalPodsCidrs", self.additional_pods_cidrs)

    def config_ranges(self) -> list[Range]:
        """The non-masquerade ranges stated in config (an adopted subnet adds its live ranges)."""
        sources = self.ipv4_ranges()
        if self.ipv6_ula_range is not None:
            sources.append(stack_range(_key("ipv6UlaRange"), self.ipv6_ula_range))
        return sources + _indexed("extraNonMasqueradeCidrs", self.extra_non_masquerade_cidrs)

    def config_only_ranges(self) -> list[Range]:
        """On GKE, the ranges no provisioned resource carries: extras, and an adopted VPC's ULA."""
        sources = _indexed("extraNonMasqueradeCidrs", self.extra_non_masquerade_cidrs)
        if self.existing_subnet is not None and self.ipv6_ula_range is not None:
            sources.append(stack_range(_key("ipv6UlaRange"), self.ipv6_ula_range))
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


def _key(name: str) -> str:
    return f"{PROJECT}:{name}"


def _indexed(name: str, values: tuple[str, ...]) -> list[Range]:
    return [stack_range(f"{_key(name)}[{i}]", value) for i, value in enumerate(values)]


# Keys renamed to the component argument's schema name (one name per setting); the old ones
# are read one more release, with a warning.
RENAMED_KEYS: Final = {
    "agentImage": "image",
    "agentBackend": "backend",
    "masqLinkLocalIPv6": "masqLinkLocalIpv6",
}


def _renamed(raw: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """`raw` with every old key under its new name, and a note for each one used."""
    keys = dict(raw)
    notes = []
    for old, new in RENAMED_KEYS.items():
        if old not in keys:
            continue
        value = keys.pop(old)
        if new in keys and keys[new] != value:
            raise SettingsError(
                f"{_key(old)}: {value!r} (the old name of {new}) contradicts {new} {keys[new]!r}"
            )
        keys[new] = value
        notes.append(
            f"{_key(old)} is deprecated and goes in the next release: rename it to {_key(new)}"
        )
    return keys, tuple(notes)


class _Reader:
    """Decodes raw config strings (as the Pulumi CLI passes them) into typed values."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        raw, self.notes = _renamed(raw)
        unknown = sorted(set(raw) - set(DEFAULTS))
        if unknown:
            guess = closest(unknown[0], list(DEFAULTS))
            hint = f"did you mean {guess}?" if guess else "see Pulumi.yaml"
            raise SettingsError(f"{_key(unknown[0])}: unknown config key ({hint})")
        self._raw = raw

    def text(self, name: str) -> str:
        default = DEFAULTS[name]
        assert isinstance(default, str)
        return self._raw.get(name, default)

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise SettingsError(f"{_key(name)}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def flag(self, name: str) -> bool:
        default = DEFAULTS[name]
        assert isinstance(default, bool)
        value = self._raw.get(name)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise SettingsError(f"{_key(name)}: {value!r} is not a boolean (true or false)")
        return value == "true"

    def integer(self, name: str) -> int:
        default = DEFAULTS[name]
        assert isinstance(default, int)
        value = self._raw.get(name)
        if value is None:
            return default
        if not re.fullmatch(r"-?[0-9]+", value):
            raise SettingsError(f"{_key(name)}: {value!r} is not an integer")
        return int(value)

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._raw.get(name)
        if value is None:
            default = DEFAULTS[name]
            assert isinstance(default, list)
            return tuple(default)
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            decoded = None
        if not isinstance(decoded, list) or not all(isinstance(v, str) for v in decoded):
            raise SettingsError(f"{_key(name)}: {value!r} is not a list of strings")
        return tuple(decoded)


def parse_settings(raw: Mapping[str, str], *, gcp: Mapping[str, str] | None = None) -> Settings:
    """Validate raw config (key without namespace -> string) into Settings, or SettingsError."""
    read = _Reader(raw)
    gcp = gcp or {}
    existing_subnet_text = read.optional("existingSubnet")
    delivery = _delivery(read)
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
        existing_subnet=_subnet_path(existing_subnet_text),
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
        monitoring_labels=_monitoring_labels(read.strings("monitoringLabels")),
        grafana_dashboard=read.flag("grafanaDashboard"),
        gcp_project=gcp.get("project") or None,
        gcp_region=gcp.get("region") or None,
        deprecations=delivery.deprecations + read.notes,
    )
    _check(settings)
    return settings


@dataclass(frozen=True)
class _Delivery:
    cluster: Literal["gke", "existing"]
    autopilot: bool
    dataplane: Literal["legacy", "v2"]
    platform: Platform
    deprecations: tuple[str, ...]


def _delivery(read: "_Reader") -> _Delivery:
    """What the program provisions (`cluster`, `autopilot`, `dataplane`) and how the list
    reaches the nodes (`platform`): the second follows from the first unless set, and then
    must agree with it. The old keys keep their meaning one release, with a note."""
    notes: list[str] = []
    cluster_text = read.text("cluster")
    platform_text = read.text("platform")
    if platform_text in _CLUSTERS:
        # `platform` used to say what the program provisions; the values cannot be mistaken.
        if cluster_text and cluster_text != platform_text:
            raise SettingsError(
                f"{_key('platform')}: {platform_text!r} (its old meaning, now the cluster key) "
                f"contradicts cluster {cluster_text!r}"
            )
        notes.append(
            f"{_key('platform')}: {platform_text!r} is deprecated (the key now says how the list "
            f"reaches the nodes): set {_key('cluster')}: {platform_text} instead"
        )
        cluster_text, platform_text = cluster_text or platform_text, ""
    cluster = cluster_text or "gke"
    if cluster not in _CLUSTERS:
        raise SettingsError(f"{_key('cluster')}: {cluster!r} is not one of {', '.join(_CLUSTERS)}")
    autopilot = read.flag("autopilot")
    if autopilot and cluster != "gke":
        raise SettingsError(
            f"{_key('autopilot')}: true provisions an Autopilot cluster, only with cluster gke "
            "(for an existing Autopilot cluster set platform: gke-autopilot)"
        )
    dataplane_text = read.text("dataplane")
    if dataplane_text not in ("", "legacy", "v2"):
        raise SettingsError(f"{_key('dataplane')}: {dataplane_text!r} is not one of legacy, v2")
    if autopilot and dataplane_text == "legacy":
        raise SettingsError(
            f"{_key('dataplane')}: 'legacy' but autopilot is true (Autopilot runs Dataplane V2)"
        )
    # An existing cluster is described by the platform set for it (nothing here provisions it).
    v2_platform = platform_text in (Platform.GKE_DATAPLANE_V2, Platform.GKE_AUTOPILOT)
    described = cluster == "existing" and not dataplane_text and v2_platform
    dataplane: Literal["legacy", "v2"] = (
        "v2" if autopilot or dataplane_text == "v2" or described else "legacy"
    )
    deploy_agent = read.flag("deployAgent")
    if not deploy_agent:
        notes.append(
            f"{_key('deployAgent')}: false is deprecated: set {_key('platform')}: "
            f"{Platform.GKE_MANAGED_AGENT.value} (ConfigMap only, for GKE's own agent)"
        )
    if autopilot:
        implied = Platform.GKE_AUTOPILOT
    elif dataplane == "v2":
        implied = Platform.GKE_DATAPLANE_V2
    elif not deploy_agent:
        implied = Platform.GKE_MANAGED_AGENT
    else:
        implied = Platform.GKE_STANDARD
    if not platform_text:
        return _Delivery(cluster, autopilot, dataplane, implied, tuple(notes))  # type: ignore[arg-type]
    if platform_text not in set(Platform):
        raise SettingsError(
            f"{_key('platform')}: {platform_text!r} is not one of {allowed_platforms()}"
        )
    platform = Platform(platform_text)
    conflict = _conflict(platform, cluster=cluster, autopilot=autopilot, dataplane=dataplane)
    if conflict is None and platform is Platform.GKE_STANDARD and not deploy_agent:
        conflict = "deployAgent: false (deprecated; it meant gke-managed-agent)"
    if conflict is not None:
        raise SettingsError(f"{_key('platform')}: {platform.value!r} contradicts {conflict}")
    return _Delivery(cluster, autopilot, dataplane, platform, tuple(notes))  # type: ignore[arg-type]


_CLUSTERS: Final = ("gke", "existing")


def _conflict(platform: Platform, *, cluster: str, autopilot: bool, dataplane: str) -> str | None:
    """What about the cluster rules this platform out, if anything."""
    if autopilot and platform is not Platform.GKE_AUTOPILOT:
        return "autopilot: true (an Autopilot cluster takes only gke-autopilot)"
    if platform is Platform.GKE_AUTOPILOT:
        if cluster == "gke" and not autopilot:
            return "autopilot: false (the cluster this stack provisions is GKE Standard)"
        return None
    if dataplane == "v2" and platform is not Platform.GKE_DATAPLANE_V2:
        return "dataplane: v2 (Dataplane V2 reads the ConfigMap itself: gke-dataplane-v2)"
    if dataplane == "legacy" and platform is Platform.GKE_DATAPLANE_V2:
        return "dataplane: legacy (set dataplane: v2 for a Dataplane V2 cluster)"
    return None


def _monitoring_labels(entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    labels: dict[str, str] = {}
    for index, entry in enumerate(entries):
        name, equals, value = entry.partition("=")
        where = f"{_key('monitoringLabels')}[{index}]"
        if not equals:
            raise SettingsError(f"{where}: {entry!r} is not name=value")
        problem = label_problem(name, value)
        if problem is not None:
            raise SettingsError(f"{where}: {problem}")
        if name in labels:
            raise SettingsError(f"{where}: label {name!r} given twice")
        labels[name] = value
    return tuple(labels.items())


def _subnet_path(text: str | None) -> SubnetPath | None:
    if text is None:
        return None
    match = _SUBNET_PATH.fullmatch(text)
    if match is None:
        raise SettingsError(
            f"{_key('existingSubnet')}: {text!r} is not "
            "projects/PROJECT/regions/REGION/subnetworks/NAME"
        )
    return SubnetPath(*match.groups())


def _check(settings: Settings) -> None:
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
        render_agent_config(settings.agent_config_values(cidrs), enable_ipv6=settings.dual_stack)
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
