"""The IpMasqAgent component: the derived list where the cluster reads it (ConfigMap and our
agent's DaemonSet, or GKE Autopilot's EgressNATPolicy)."""

import warnings
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, NotRequired, TypedDict, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from ip_masq_agent.flags import DEFAULT_HEALTH_ADDRESS
from pulumi_ip_masq_agent.agent_config import AgentConfigValues, ConfigError, render_agent_config
from pulumi_ip_masq_agent.arguments import (
    ResolvedInputError,
    check_choice,
    check_count,
    check_known,
    check_list,
    check_resources,
    check_text,
)
from pulumi_ip_masq_agent.cidrs import CidrError, derive_non_masquerade_cidrs
from pulumi_ip_masq_agent.monitoring import (
    DEFAULT_SELECTOR_LABELS,
    METRICS_PORT,
    METRICS_PORT_NAME,
    NODE_IP_ENV,
    NODE_METRICS_ADDRESS,
    Monitoring,
)
from pulumi_ip_masq_agent.monitoring_resources import register_dashboard, register_monitoring
from pulumi_ip_masq_agent.platform import Platform, PlatformError, resolve_component_platform
from pulumi_ip_masq_agent.ranges import Range, resolve_ranges

NAMESPACE: Final = "kube-system"
# Upstream's name and key: the agent (and GKE Dataplane V2) read exactly this ConfigMap.
CONFIG_MAP_NAME: Final = "ip-masq-agent"
CONFIG_MAP_KEY: Final = "config"
# GKE manages a DaemonSet called `ip-masq-agent` itself; ours must never be mistaken for it.
DAEMON_SET_NAME: Final = "ip-masq-agent-derived"
MASQ_CHAIN: Final = "IP-MASQ-AGENT"
# When kubelet first asks a new agent: it is listening by then after a normal start.
STARTUP_DELAY_SECONDS: Final = 2
# Node agents are what pods' traffic depends on: evicted last, scheduled first.
DEFAULT_PRIORITY_CLASS: Final = "system-node-critical"
DASHBOARD_CONFIG_MAP: Final = "ip-masq-agent-dashboard"
# The agent's own port (one constant, in ip_masq_agent.flags) on the node's loopback only:
# kubelet, on the node, probes 127.0.0.1 (the probes' `host`); nothing off the node needs
# /healthz, and with hostNetwork any other address would be the node's, open to the network.
AGENT_HEALTH_PORT: Final = int(DEFAULT_HEALTH_ADDRESS.rpartition(":")[2])
AGENT_HEALTH_HOST: Final = "127.0.0.1"
AGENT_HEALTH_ADDRESS: Final = f"{AGENT_HEALTH_HOST}:{AGENT_HEALTH_PORT}"
LIVENESS_PATH: Final = "/healthz"  # fails only when syncs are stuck or keep failing
READINESS_PATH: Final = "/readyz"  # ready after the first successful sync
CONFIG_DIR: Final = "/etc/config"
XTABLES_LOCK: Final = "/run/xtables.lock"
# GKE's documented custom resource for Autopilot's masquerading (requires Dataplane V2).
EGRESS_NAT_API_VERSION: Final = "networking.gke.io/v1"
EGRESS_NAT_KIND: Final = "EgressNATPolicy"
# Ours, not `default` (GKE creates and keeps that one; users edit it by hand) and not a
# `gke-` name (GKE's own fixed policy): see README "GKE Autopilot".
EGRESS_NAT_POLICY_NAME: Final = "ip-masq-agent-derived"


class Dataplane(StrEnum):
    """Deprecated (use `platform`): the cluster's dataplane, which agent reads the ConfigMap."""

    LEGACY = "legacy"
    """kube-proxy dataplane: our agent runs as a DaemonSet on every node (gke-standard)."""
    V2 = "v2"
    """GKE Dataplane V2 reads the ConfigMap; no DaemonSet (gke-dataplane-v2)."""


class Backend(StrEnum):
    """The agent's --backend."""

    AUTO = "auto"
    """nftables when the node's kernel and tools have it, else iptables."""
    IPTABLES = "iptables"
    """upstream-identical iptables rules."""
    NFTABLES = "nftables"
    """one nftables table with sets of CIDRs."""
    IPTABLES_NFT = "iptables-nft"
    """upstream's chain, always through iptables-nft."""
    IPTABLES_LEGACY = "iptables-legacy"
    """upstream's chain, always through iptables-legacy."""


class AgentPhase(StrEnum):
    """What our agent's DaemonSet does on the nodes (gke-standard only)."""

    RUN = "run"
    """Program the rules from the ConfigMap (default)."""
    CLEANUP = "cleanup"
    """Uninstall phase: remove our rules from every node, each pod Ready once its node holds
    none; after it has rolled out, remove the component (or switch platform)."""


class Toleration(TypedDict):
    """A Kubernetes toleration of the agent's pods."""

    key: NotRequired[pulumi.Input[str]]
    """The taint key (empty with operator Exists: every taint)."""
    operator: NotRequired[pulumi.Input[str]]
    """Equal (default) or Exists."""
    value: NotRequired[pulumi.Input[str]]
    """The taint value, with Equal."""
    effect: NotRequired[pulumi.Input[str]]
    """NoSchedule, PreferNoSchedule or NoExecute (empty: all)."""


class Resources(TypedDict):
    """CPU and memory of the agent's container, as Kubernetes quantities."""

    requests: NotRequired[Mapping[str, str]]
    """e.g. {"cpu": "10m", "memory": "32Mi"}."""
    limits: NotRequired[Mapping[str, str]]
    """e.g. {"cpu": "100m", "memory": "96Mi"}."""


# What the agent needs at the largest config it accepts (tests/dataplane/test_agent_memory.py).
DEFAULT_RESOURCES: Final[Resources] = {
    "requests": {"cpu": "10m", "memory": "32Mi"},
    "limits": {"cpu": "100m", "memory": "96Mi"},
}
MINIMUM_MEMORY_LIMIT: Final = 96 * 1024 * 1024


class IpMasqAgentArgs(TypedDict):
    """Inputs of the IpMasqAgent component; all but `ranges` (and `image` with a DaemonSet)
    default as upstream's agent does."""

    ranges: pulumi.Input[Sequence[pulumi.Input[Range]]]
    """Every range pods reach without SNAT (nodes, pods, services, control plane, peers...)."""
    image: NotRequired[pulumi.Input[str]]
    """The agent image (name@sha256:digest); required when a DaemonSet is deployed."""
    platform: NotRequired[Platform]
    """How the list reaches the nodes: `gke-standard` (default: ConfigMap and our agent's
    DaemonSet), `gke-managed-agent` (ConfigMap only, for GKE's own agent), `gke-dataplane-v2`
    (ConfigMap only, read by Dataplane V2) or `gke-autopilot` (one EgressNATPolicy, nothing in
    kube-system); plain, not an Output."""
    agent_phase: NotRequired[AgentPhase]
    """`run` (default) or `cleanup`: the DaemonSet removes our rules from every node and is Ready
    only once they are gone, the step before removing the agent (gke-standard only; plain)."""
    dataplane: NotRequired[Dataplane]
    """Deprecated, use `platform`: `legacy` (gke-standard) or `v2` (gke-dataplane-v2); plain."""
    deploy_daemon_set: NotRequired[bool]
    """Deprecated, use `platform`: false is gke-managed-agent; plain."""
    enable_ipv6: NotRequired[pulumi.Input[bool]]
    """Dual-stack: IPv6 ranges allowed, the agent runs with --enable-ipv6 (default false: an IPv6
    range is then an error naming it)."""
    cidr_limit: NotRequired[pulumi.Input[int]]
    """The agent's cidrLimit (default 64); more merged CIDRs than this is an error."""
    masq_link_local: NotRequired[pulumi.Input[bool]]
    """Masquerade traffic to 169.254.0.0/16 (upstream's masqLinkLocal, default false)."""
    masq_link_local_ipv6: NotRequired[pulumi.Input[bool]]
    """Masquerade traffic to fe80::/10 (upstream's masqLinkLocalIPv6, default false)."""
    resync_interval: NotRequired[pulumi.Input[str]]
    """Go-style duration between full resyncs (upstream's resyncInterval, default 60s)."""
    backend: NotRequired[pulumi.Input[Backend]]
    """The agent's --backend (default auto)."""
    monitoring: NotRequired[Monitoring]
    """`none` (default), `podmonitor` (a PodMonitor and a PrometheusRule) or `gmp` (GKE Managed
    Service for Prometheus: a PodMonitoring and a Rules) next to the DaemonSet, whose agents then
    serve /metrics on the node's address (plain: decides what is created)."""
    monitoring_labels: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Labels of the PodMonitor and PrometheusRule, for the Prometheus' selectors to match
    (default `release: kube-prometheus-stack`, what kube-prometheus-stack selects by default);
    with gmp, of the PodMonitoring and Rules, which GMP picks up whatever their labels."""
    grafana_dashboard: NotRequired[bool]
    """With monitoring podmonitor or gmp: also the Grafana dashboard, as ConfigMap
    `ip-masq-agent-dashboard` labelled `grafana_dashboard: "1"` (default false; plain)."""
    force_masquerade_cidrs: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Destinations masqueraded although inside a kept range (the config's forceMasqueradeCIDRs;
    the most specific CIDR of both lists decides). Only this project's agent knows the key."""
    resources: NotRequired[Resources]
    """The agent container's `requests` and `limits` (cpu, memory; default requests cpu 10m,
    memory 32Mi, limits cpu 100m, memory 96Mi: the largest config the agent accepts, 20,000
    planned CIDRs, is measured to fit 96Mi, so a lower memory limit is refused; plain)."""
    log_verbosity: NotRequired[int]
    """The agent's -v: 0 (default) logs state changes only, 2 adds a line per sync (plain)."""
    node_selector: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Node labels the agent's pods need, besides kubernetes.io/os=linux (default none)."""
    tolerations: NotRequired[pulumi.Input[Sequence[pulumi.Input[Toleration]]]]
    """Taints the pods tolerate (default: every taint, as node agents do: a node without the
    agent would leave its pods' traffic unmasqueraded)."""
    priority_class_name: NotRequired[pulumi.Input[str]]
    """The pods' priority class (default system-node-critical)."""
    image_pull_secrets: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Names of Secrets in kube-system to pull the image with (default none)."""


# Upstream's defaults: the ConfigMap this component writes means what upstream's would.
DEFAULT_CIDR_LIMIT: Final = 64
DEFAULT_RESYNC_INTERVAL: Final = "60s"
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


class IpMasqAgent(pulumi.ComponentResource):
    """The derived ranges where the cluster's dataplane reads them: ConfigMap
    kube-system/ip-masq-agent (plus our agent's DaemonSet on gke-standard), or an
    EgressNATPolicy on GKE Autopilot."""

    non_masquerade_cidrs: pulumi.Output[list[str]]
    """The ranges merged, IPv4 then IPv6: the ConfigMap's nonMasqueradeCIDRs, or the
    EgressNATPolicy's NoSNAT destinations on gke-autopilot."""
    config_map_name: pulumi.Output[str | None]
    """Name of the ConfigMap in kube-system (none on gke-autopilot)."""
    daemon_set_name: pulumi.Output[str | None]
    """Name of the agent DaemonSet in kube-system (none when not deployed)."""
    egress_nat_policy_name: pulumi.Output[str | None]
    """Name of the cluster-scoped EgressNATPolicy (gke-autopilot only)."""

    def __init__(
        self, name: str, args: IpMasqAgentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check_arguments(name, args)
        platform = _platform(name, args)
        if platform is Platform.GKE_AUTOPILOT:
            _check_autopilot(name, args)
        deploy = platform.runs_our_agent
        phase = _agent_phase(name, args)
        if phase is AgentPhase.CLEANUP and not deploy:
            raise ValueError(
                f"IpMasqAgent {name}: agent_phase 'cleanup' runs our agent's DaemonSet, which "
                f"platform {platform.value!r} does not deploy (clean up on gke-standard first)"
            )
        if deploy and "image" not in args:
            raise ValueError(f"IpMasqAgent {name}: image is required when a DaemonSet is deployed")
        monitoring = args.get("monitoring", Monitoring.NONE)
        if monitoring not in set(Monitoring):
            raise ValueError(
                f"IpMasqAgent {name}: monitoring {monitoring!r} is not one of "
                + ", ".join(Monitoring)
            )
        monitoring = Monitoring(monitoring)
        dashboard = _plain(name, args, "grafana_dashboard", bool, False)
        if dashboard and not monitoring.scrapes:
            raise ValueError(
                f"IpMasqAgent {name}: grafana_dashboard needs monitoring podmonitor or gmp "
                "(without it nothing scrapes the metrics the dashboard shows)"
            )
        if monitoring.scrapes and not deploy:
            raise ValueError(
                f"IpMasqAgent {name}: monitoring {monitoring.value} scrapes our agent's "
                f"DaemonSet, which platform {platform.value!r} does not deploy"
            )
        if phase is AgentPhase.CLEANUP:
            # No agent serves /metrics while cleaning up: scraping it would only report it down.
            monitoring, dashboard = Monitoring.NONE, False
        super().__init__("ip-masq-agent:index:IpMasqAgent", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        ranges = resolve_ranges(args["ranges"], argument=f"IpMasqAgent {name}: ranges")
        enable_ipv6 = pulumi.Output.all(ranges, args.get("enable_ipv6")).apply(
            # Said, not guessed: an IPv6 range on a cluster not declared dual-stack is an error
            # naming the range, as on the stack path (it used to turn --enable-ipv6 on).
            lambda v: bool(v[1])
        )
        # GKE's managed agent enforces the document's cidrLimit like ours (upstream's 64 by
        # default): unless one is given, the document states a limit the list fits.
        fitted = platform is Platform.GKE_MANAGED_AGENT and "cidr_limit" not in args
        explicit_limit = args.get("cidr_limit", DEFAULT_CIDR_LIMIT)
        self.non_masquerade_cidrs = pulumi.Output.all(ranges, enable_ipv6, explicit_limit).apply(
            lambda v: list(
                _derive(
                    name, v[0], enable_ipv6=v[1], cidr_limit=NO_CIDR_LIMIT if fitted else int(v[2])
                )
            )
        )
        cidr_limit: pulumi.Input[int] = (
            self.non_masquerade_cidrs.apply(lambda c: fitted_cidr_limit(len(c)))
            if fitted
            else explicit_limit
        )

        self.config_map_name = pulumi.Output.from_input(None)
        self.daemon_set_name = pulumi.Output.from_input(None)
        self.egress_nat_policy_name = pulumi.Output.from_input(None)
        if platform is Platform.GKE_AUTOPILOT:
            policy = register_egress_nat_policy(
                name, self.non_masquerade_cidrs, labels=_labels(), parent=self
            )
            # Known in preview, and only once the policy is registered.
            self.egress_nat_policy_name = policy.urn.apply(lambda _: EGRESS_NAT_POLICY_NAME)
        else:
            config_map = self._config_map(name, args, enable_ipv6, cidr_limit, child)
            if deploy:
                self._agent(name, args, enable_ipv6, config_map, monitoring=monitoring, phase=phase)
                if dashboard:
                    register_dashboard(
                        name, namespace=NAMESPACE, object_name=DASHBOARD_CONFIG_MAP, parent=self
                    )

        self.register_outputs(
            {
                "nonMasqueradeCidrs": self.non_masquerade_cidrs,
                "configMapName": self.config_map_name,
                "daemonSetName": self.daemon_set_name,
                "egressNatPolicyName": self.egress_nat_policy_name,
            }
        )

    def _config_map(
        self,
        name: str,
        args: IpMasqAgentArgs,
        enable_ipv6: pulumi.Output[bool],
        cidr_limit: pulumi.Input[int],
        child: pulumi.ResourceOptions,
    ) -> k8s.core.v1.ConfigMap:
        document = pulumi.Output.all(
            self.non_masquerade_cidrs,
            args.get("masq_link_local", False),
            args.get("masq_link_local_ipv6", False),
            args.get("resync_interval", DEFAULT_RESYNC_INTERVAL),
            cidr_limit,
            enable_ipv6,
            args.get("force_masquerade_cidrs", []),
        ).apply(
            lambda v: _document(
                name,
                AgentConfigValues(
                    non_masquerade_cidrs=v[0],
                    masq_link_local=v[1],
                    masq_link_local_ipv6=v[2],
                    resync_interval=v[3],
                    cidr_limit=int(v[4]),
                    force_masquerade_cidrs=tuple(v[6]),
                ),
                enable_ipv6=v[5],
            )
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CONFIG_MAP_NAME, namespace=NAMESPACE, labels=_labels()
            ),
            data={CONFIG_MAP_KEY: document},
            opts=child,
        )
        self.config_map_name = config_map.metadata.apply(lambda m: m.name or CONFIG_MAP_NAME)
        return config_map

    def _agent(
        self,
        name: str,
        args: IpMasqAgentArgs,
        enable_ipv6: pulumi.Output[bool],
        config_map: k8s.core.v1.ConfigMap,
        *,
        monitoring: Monitoring,
        phase: AgentPhase,
    ) -> None:
        scraped = monitoring.scrapes
        daemon_set = k8s.apps.v1.DaemonSet(
            f"{name}-agent",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DAEMON_SET_NAME, namespace=NAMESPACE, labels=_labels()
            ),
            spec=daemon_set_spec(
                image=args["image"],
                container_args=pulumi.Output.all(
                    enable_ipv6, args.get("backend", Backend.AUTO)
                ).apply(
                    lambda v: agent_args(
                        enable_ipv6=v[0],
                        backend=Backend(v[1]).value,
                        serve_metrics=scraped,
                        phase=phase,
                        verbosity=args.get("log_verbosity", 0),
                    )
                ),
                serve_metrics=scraped,
                node_selector=args.get("node_selector"),
                tolerations=args.get("tolerations"),
                priority_class_name=args.get("priority_class_name", DEFAULT_PRIORITY_CLASS),
                image_pull_secrets=args.get("image_pull_secrets"),
                resources=args.get("resources"),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map]),
        )
        self.daemon_set_name = daemon_set.metadata.apply(lambda m: m.name)
        if scraped:
            register_monitoring(
                name,
                monitoring=monitoring,
                namespace=NAMESPACE,
                object_name=DAEMON_SET_NAME,
                pod_labels=_selector(),
                labels=args.get("monitoring_labels", DEFAULT_SELECTOR_LABELS),
                resync_interval=args.get("resync_interval", DEFAULT_RESYNC_INTERVAL),
                parent=self,
                depends_on=[daemon_set],
            )


# Any count fits: derivation for a document whose cidrLimit is then set to fit the list.
NO_CIDR_LIMIT: Final = 1 << 31


def fitted_cidr_limit(cidrs: int) -> int:
    """The cidrLimit written for GKE's managed agent when none is given: the list fits."""
    return max(DEFAULT_CIDR_LIMIT, cidrs)


def _check_arguments(name: str, args: IpMasqAgentArgs) -> None:
    """Unknown keys and plain values that cannot work, before any resource is registered."""
    where = f"IpMasqAgent {name}"
    check_known(where, args, IpMasqAgentArgs)
    check_list(where, "ranges", args["ranges"], non_empty=True)
    check_agent_settings(where, args)


def check_agent_settings(where: str, args: Mapping[str, Any]) -> None:
    """IpMasqAgent's arguments but `ranges`, as plain values allow: also what a deriving
    component (GkeIpMasqAgent) passes through, checked under its own name up front."""
    if "resources" in args:
        check_resources(where, args["resources"], minimum_memory=MINIMUM_MEMORY_LIMIT)
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


def _agent_phase(name: str, args: IpMasqAgentArgs) -> AgentPhase:
    phase = _plain(name, args, "agent_phase", str, AgentPhase.RUN.value)
    if phase not in set(AgentPhase):
        raise ValueError(
            f"IpMasqAgent {name}: agent_phase {phase!r} is not one of "
            + ", ".join(p.value for p in AgentPhase)
        )
    return AgentPhase(phase)


def _platform(name: str, args: IpMasqAgentArgs) -> Platform:
    """The platform from `platform` or the deprecated pair; each deprecation is warned once
    here (engine log and Python's warnings), a contradiction raised."""
    where = f"IpMasqAgent {name}"
    platform = _plain_or_none(name, args, "platform", str)
    dataplane = _plain_or_none(name, args, "dataplane", str)
    deploy = _plain_or_none(name, args, "deploy_daemon_set", bool)
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


def _check_autopilot(name: str, args: IpMasqAgentArgs) -> None:
    """Autopilot refuses every write to kube-system and runs no agent of ours: an agent-only
    argument would be silently meaningless, so it is an error naming the argument."""
    for key in AGENT_ONLY_ARGUMENTS:
        if key in args:
            raise ValueError(
                f"IpMasqAgent {name}: {key} is an agent setting, which platform 'gke-autopilot' "
                "has no agent for (GKE Autopilot keeps pod IPs by EgressNATPolicy only): "
                f"remove {key}"
            )


def register_egress_nat_policy(
    name: str,
    cidrs: pulumi.Input[Sequence[str]],
    *,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
) -> k8s.apiextensions.CustomResource:
    """The one cluster-scoped EgressNATPolicy this component owns: NoSNAT to every range."""
    return k8s.apiextensions.CustomResource(
        f"{name}-egress-nat",
        api_version=EGRESS_NAT_API_VERSION,
        kind=EGRESS_NAT_KIND,
        metadata={"name": EGRESS_NAT_POLICY_NAME, "labels": dict(labels)},
        spec=pulumi.Output.from_input(cidrs).apply(
            lambda c: {"action": "NoSNAT", "destinations": [{"cidr": cidr} for cidr in c]}
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


P = TypeVar("P", bool, str)


def _plain_or_none(name: str, args: IpMasqAgentArgs, key: str, kind: type[P]) -> P | None:
    """A plain value when given (it decides which resources exist), else None."""
    if key not in args:
        return None
    return _plain(name, args, key, kind, kind())


def _plain(name: str, args: IpMasqAgentArgs, key: str, kind: type[P], default: P) -> P:
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


def _derive(
    name: str, ranges: Sequence[Range], *, enable_ipv6: bool, cidr_limit: int
) -> tuple[str, ...]:
    try:
        return derive_non_masquerade_cidrs(ranges, ipv6_enabled=enable_ipv6, cidr_limit=cidr_limit)
    except CidrError as err:
        raise ResolvedInputError(f"IpMasqAgent {name}: ranges: {err}") from None


def _document(name: str, values: AgentConfigValues, *, enable_ipv6: bool) -> str:
    try:
        return render_agent_config(values, enable_ipv6=enable_ipv6)
    except ConfigError as err:
        raise ResolvedInputError(f"IpMasqAgent {name}: {err}") from None


def _selector() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "ip-masq-agent",
        "app.kubernetes.io/instance": DAEMON_SET_NAME,
    }


def _labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "ip-masq-agent",
        "app.kubernetes.io/instance": DAEMON_SET_NAME,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def agent_args(
    *,
    enable_ipv6: bool,
    backend: str,
    serve_metrics: bool = False,
    phase: AgentPhase = AgentPhase.RUN,
    verbosity: int = 0,
) -> list[str]:
    """The agent's command line: upstream's flags plus ours (--backend, --health-address, and
    --metrics-address on the node's address when Prometheus scrapes it; else the agent's
    loopback default). The cleanup phase runs `cleanup --stay` with the same chain and
    families, so it removes exactly what the run phase wrote (and any other backend's)."""
    args = ["cleanup", "--stay"] if phase is AgentPhase.CLEANUP else []
    args += [f"--masq-chain={MASQ_CHAIN}", f"--backend={backend}"]
    if enable_ipv6:
        args.append("--enable-ipv6")
    args.append(f"--health-address={AGENT_HEALTH_ADDRESS}")
    if serve_metrics:
        args.append(f"--metrics-address={NODE_METRICS_ADDRESS}")
    args.append(f"--v={verbosity}")
    return args


def _toleration_args(given: Sequence[Any]) -> list[k8s.core.v1.TolerationArgs]:
    """Resolved Tolerations (plain mappings by now) as the Kubernetes SDK's type."""
    return [k8s.core.v1.TolerationArgs(**dict(t)) for t in given]


# The architectures the agent image is built for (AgentImage, make image ARCH=...): the
# DaemonSet runs on those nodes only.
NODE_ARCHITECTURES: Final = ("amd64", "arm64")


def node_architecture_affinity() -> k8s.core.v1.AffinityArgs:
    """Nodes whose kubernetes.io/arch the image is built for."""
    return k8s.core.v1.AffinityArgs(
        node_affinity=k8s.core.v1.NodeAffinityArgs(
            required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
                node_selector_terms=[
                    k8s.core.v1.NodeSelectorTermArgs(
                        match_expressions=[
                            k8s.core.v1.NodeSelectorRequirementArgs(
                                key="kubernetes.io/arch",
                                operator="In",
                                values=list(NODE_ARCHITECTURES),
                            )
                        ]
                    )
                ]
            )
        )
    )


def daemon_set_spec(
    *,
    image: pulumi.Input[str],
    container_args: pulumi.Input[list[str]],
    serve_metrics: bool = False,
    node_selector: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
    tolerations: pulumi.Input[Sequence[pulumi.Input[Toleration]]] | None = None,
    priority_class_name: pulumi.Input[str] = DEFAULT_PRIORITY_CLASS,
    image_pull_secrets: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None,
    resources: Resources | None = None,
) -> k8s.apps.v1.DaemonSetSpecArgs:
    """Least privilege for a node NAT agent: host network, NET_ADMIN + NET_RAW, nothing more.

    `serve_metrics` adds the named `metrics` port the PodMonitor selects and the node's
    address (downward API) that the args' `$(NODE_IP)` expands to.
    """
    resources = resources or {}
    selector = _selector()
    ports = [
        k8s.core.v1.ContainerPortArgs(
            name="health", container_port=AGENT_HEALTH_PORT, protocol="TCP"
        )
    ]
    env = []
    if serve_metrics:
        ports.append(
            k8s.core.v1.ContainerPortArgs(
                name=METRICS_PORT_NAME, container_port=METRICS_PORT, protocol="TCP"
            )
        )
        env.append(
            k8s.core.v1.EnvVarArgs(
                name=NODE_IP_ENV,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="status.hostIP")
                ),
            )
        )

    def probe(
        path: str, *, period: int = 10, failures: int = 3, delay: int | None = None
    ) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(
                host=AGENT_HEALTH_HOST, path=path, port=AGENT_HEALTH_PORT
            ),
            initial_delay_seconds=delay,
            period_seconds=period,
            timeout_seconds=2,
            failure_threshold=failures,
        )

    container = k8s.core.v1.ContainerArgs(
        name="ip-masq-agent",
        image=image,
        args=container_args,
        env=env or None,
        ports=ports,
        security_context=k8s.core.v1.SecurityContextArgs(
            privileged=False,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            # iptables and nft need uid 0 with the capabilities, not just the capabilities.
            run_as_user=0,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"], add=["NET_ADMIN", "NET_RAW"]),
        ),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={**DEFAULT_RESOURCES["requests"], **resources.get("requests", {})},
            limits={**DEFAULT_RESOURCES["limits"], **resources.get("limits", {})},
        ),
        # The startup probe gates the other two: its first look comes after a normal start
        # (Python and its imports under the 100m CPU limit take about a second), so a start
        # logs no probe failure; then readiness every 5 s lets a rollout move on quickly.
        startup_probe=probe(LIVENESS_PATH, period=1, failures=30, delay=STARTUP_DELAY_SECONDS),
        liveness_probe=probe(LIVENESS_PATH),
        readiness_probe=probe(READINESS_PATH, period=5),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="xtables-lock", mount_path=XTABLES_LOCK),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
    return k8s.apps.v1.DaemonSetSpecArgs(
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(
            type="RollingUpdate",
            rolling_update=k8s.apps.v1.RollingUpdateDaemonSetArgs(max_unavailable=1),
        ),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={**selector, **_labels()}),
            spec=k8s.core.v1.PodSpecArgs(
                host_network=True,
                automount_service_account_token=False,
                priority_class_name=priority_class_name,
                node_selector=pulumi.Output.from_input(node_selector or {}).apply(
                    lambda extra: {**extra, "kubernetes.io/os": "linux"}
                ),
                affinity=node_architecture_affinity(),
                # No key, no effect: tolerate every taint, so every node gets NAT rules.
                tolerations=[k8s.core.v1.TolerationArgs(operator="Exists")]
                if tolerations is None
                else pulumi.Output.from_input(tolerations).apply(_toleration_args),
                image_pull_secrets=None
                if image_pull_secrets is None
                else pulumi.Output.from_input(image_pull_secrets).apply(
                    lambda names: [k8s.core.v1.LocalObjectReferenceArgs(name=n) for n in names]
                ),
                security_context=k8s.core.v1.PodSecurityContextArgs(
                    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")
                ),
                containers=[container],
                volumes=[
                    k8s.core.v1.VolumeArgs(
                        name="config",
                        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                            name=CONFIG_MAP_NAME,
                            # As upstream: without the ConfigMap the agent runs its defaults.
                            optional=True,
                            items=[
                                k8s.core.v1.KeyToPathArgs(key=CONFIG_MAP_KEY, path="ip-masq-agent")
                            ],
                        ),
                    ),
                    k8s.core.v1.VolumeArgs(
                        name="xtables-lock",
                        host_path=k8s.core.v1.HostPathVolumeSourceArgs(
                            path=XTABLES_LOCK, type="FileOrCreate"
                        ),
                    ),
                    k8s.core.v1.VolumeArgs(
                        name="tmp",
                        empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory"),
                    ),
                ],
            ),
        ),
    )
