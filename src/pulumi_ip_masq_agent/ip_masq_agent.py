"""The IpMasqAgent component: the agent's ConfigMap, derived from the network, and its DaemonSet."""

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final, NotRequired, TypedDict, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from ip_masq_agent.flags import DEFAULT_HEALTH_ADDRESS
from pulumi_ip_masq_agent.agent_config import AgentConfigValues, ConfigError, render_agent_config
from pulumi_ip_masq_agent.cidrs import CidrError, derive_non_masquerade_cidrs, read_network
from pulumi_ip_masq_agent.monitoring import (
    DEFAULT_SELECTOR_LABELS,
    METRICS_PORT,
    METRICS_PORT_NAME,
    NODE_IP_ENV,
    NODE_METRICS_ADDRESS,
    Monitoring,
)
from pulumi_ip_masq_agent.monitoring_resources import register_dashboard, register_monitoring
from pulumi_ip_masq_agent.ranges import Range, known_cidr, resolve_ranges

NAMESPACE: Final = "kube-system"
# Upstream's name and key: the agent (and GKE Dataplane V2) read exactly this ConfigMap.
CONFIG_MAP_NAME: Final = "ip-masq-agent"
CONFIG_MAP_KEY: Final = "config"
# GKE manages a DaemonSet called `ip-masq-agent` itself; ours must never be mistaken for it.
DAEMON_SET_NAME: Final = "ip-masq-agent-derived"
MASQ_CHAIN: Final = "IP-MASQ-AGENT"
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


class Dataplane(StrEnum):
    """The cluster's dataplane: which agent reads the ConfigMap."""

    LEGACY = "legacy"
    """kube-proxy dataplane: our agent runs as a DaemonSet on every node."""
    V2 = "v2"
    """GKE Dataplane V2: GKE's own dataplane reads the ConfigMap; no DaemonSet."""


class Backend(StrEnum):
    """The agent's --backend."""

    AUTO = "auto"
    """nftables when the node's kernel and tools have it, else iptables."""
    IPTABLES = "iptables"
    """upstream-identical iptables rules."""
    NFTABLES = "nftables"
    """one nftables table with sets of CIDRs."""


class IpMasqAgentArgs(TypedDict):
    """Inputs of the IpMasqAgent component; all but `ranges` (and `image` with a DaemonSet)
    default as upstream's agent does."""

    ranges: pulumi.Input[Sequence[pulumi.Input[Range]]]
    """Every range pods reach without SNAT (nodes, pods, services, control plane, peers...)."""
    image: NotRequired[pulumi.Input[str]]
    """The agent image (name@sha256:digest); required when a DaemonSet is deployed."""
    dataplane: NotRequired[Dataplane]
    """`legacy` (default: our agent's DaemonSet) or `v2` (ConfigMap only); plain, not an Output."""
    deploy_daemon_set: NotRequired[bool]
    """Run our agent as a DaemonSet (default: true on the legacy dataplane); plain, not an
    Output: it decides which resources exist."""
    enable_ipv6: NotRequired[pulumi.Input[bool]]
    """Dual-stack: IPv6 ranges allowed, the agent runs with --enable-ipv6 (default: whether any
    range is IPv6)."""
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
    """`none` (default) or `podmonitor`: a PodMonitor and a PrometheusRule next to the DaemonSet,
    whose agents then serve /metrics on the node's address (plain: decides what is created)."""
    monitoring_labels: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    """Labels of the PodMonitor and PrometheusRule, for the Prometheus' selectors to match
    (default `release: kube-prometheus-stack`, what kube-prometheus-stack selects by default)."""
    grafana_dashboard: NotRequired[bool]
    """With monitoring podmonitor: also the Grafana dashboard, as ConfigMap
    `ip-masq-agent-dashboard` labelled `grafana_dashboard: "1"` (default false; plain)."""
    force_masquerade_cidrs: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    """Destinations masqueraded although inside a kept range (the config's forceMasqueradeCIDRs;
    the most specific CIDR of both lists decides). Only this project's agent knows the key."""


# Upstream's defaults: the ConfigMap this component writes means what upstream's would.
DEFAULT_CIDR_LIMIT: Final = 64
DEFAULT_RESYNC_INTERVAL: Final = "60s"


class IpMasqAgent(pulumi.ComponentResource):
    """ConfigMap kube-system/ip-masq-agent with the merged ranges, plus the agent DaemonSet."""

    non_masquerade_cidrs: pulumi.Output[list[str]]
    """The ConfigMap's nonMasqueradeCIDRs: the ranges merged, IPv4 then IPv6."""
    config_map_name: pulumi.Output[str]
    """Name of the ConfigMap in kube-system."""
    daemon_set_name: pulumi.Output[str | None]
    """Name of the agent DaemonSet in kube-system (none when not deployed)."""

    def __init__(
        self, name: str, args: IpMasqAgentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        dataplane_text = _plain(name, args, "dataplane", str, Dataplane.LEGACY.value)
        if dataplane_text not in set(Dataplane):
            raise ValueError(
                f"IpMasqAgent {name}: dataplane {dataplane_text!r} is not one of "
                + ", ".join(Dataplane)
            )
        dataplane = Dataplane(dataplane_text)
        deploy = _plain(name, args, "deploy_daemon_set", bool, dataplane == Dataplane.LEGACY)
        if deploy and dataplane == Dataplane.V2:
            raise ValueError(
                f"IpMasqAgent {name}: deploy_daemon_set is true but dataplane is v2 "
                "(GKE Dataplane V2 reads the ConfigMap itself: leave deploy_daemon_set unset)"
            )
        if deploy and "image" not in args:
            raise ValueError(f"IpMasqAgent {name}: image is required when a DaemonSet is deployed")
        monitoring = args.get("monitoring", Monitoring.NONE)
        if monitoring not in set(Monitoring):
            raise ValueError(
                f"IpMasqAgent {name}: monitoring {monitoring!r} is not one of "
                + ", ".join(Monitoring)
            )
        scraped = Monitoring(monitoring) == Monitoring.PODMONITOR
        dashboard = _plain(name, args, "grafana_dashboard", bool, False)
        if dashboard and not scraped:
            raise ValueError(
                f"IpMasqAgent {name}: grafana_dashboard needs monitoring podmonitor "
                "(without it nothing scrapes the metrics the dashboard shows)"
            )
        if scraped and not deploy:
            raise ValueError(
                f"IpMasqAgent {name}: monitoring podmonitor scrapes our agent's DaemonSet, "
                "which deploy_daemon_set false leaves out"
            )
        super().__init__("ip-masq-agent:index:IpMasqAgent", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)

        ranges = resolve_ranges(args["ranges"], argument=f"IpMasqAgent {name}: ranges")
        enable_ipv6 = pulumi.Output.all(ranges, args.get("enable_ipv6")).apply(
            lambda v: _ipv6(v[0]) if v[1] is None else bool(v[1])
        )
        cidr_limit = args.get("cidr_limit", DEFAULT_CIDR_LIMIT)
        self.non_masquerade_cidrs = pulumi.Output.all(ranges, enable_ipv6, cidr_limit).apply(
            lambda v: list(_derive(name, v[0], enable_ipv6=v[1], cidr_limit=int(v[2])))
        )
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

        daemon_set_name: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if deploy:
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
                            enable_ipv6=v[0], backend=Backend(v[1]).value, serve_metrics=scraped
                        )
                    ),
                    serve_metrics=scraped,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map]),
            )
            daemon_set_name = daemon_set.metadata.apply(lambda m: m.name)
            if scraped:
                register_monitoring(
                    name,
                    namespace=NAMESPACE,
                    object_name=DAEMON_SET_NAME,
                    pod_labels=_selector(),
                    labels=args.get("monitoring_labels", DEFAULT_SELECTOR_LABELS),
                    resync_interval=args.get("resync_interval", DEFAULT_RESYNC_INTERVAL),
                    parent=self,
                    depends_on=[daemon_set],
                )
            if dashboard:
                register_dashboard(
                    name, namespace=NAMESPACE, object_name=DASHBOARD_CONFIG_MAP, parent=self
                )
        self.daemon_set_name = daemon_set_name

        self.register_outputs(
            {
                "nonMasqueradeCidrs": self.non_masquerade_cidrs,
                "configMapName": self.config_map_name,
                "daemonSetName": self.daemon_set_name,
            }
        )


P = TypeVar("P", bool, str)


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


def _ipv6(ranges: Sequence[Range]) -> bool:
    return any(
        (network := read_network(known_cidr(r))) is not None and network.version == 6
        for r in ranges
    )


def _derive(
    name: str, ranges: Sequence[Range], *, enable_ipv6: bool, cidr_limit: int
) -> tuple[str, ...]:
    try:
        return derive_non_masquerade_cidrs(ranges, ipv6_enabled=enable_ipv6, cidr_limit=cidr_limit)
    except CidrError as err:
        raise CidrError(f"IpMasqAgent {name}: ranges: {err}") from None


def _document(name: str, values: AgentConfigValues, *, enable_ipv6: bool) -> str:
    try:
        return render_agent_config(values, enable_ipv6=enable_ipv6)
    except ConfigError as err:
        raise ConfigError(f"IpMasqAgent {name}: {err}") from None


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


def agent_args(*, enable_ipv6: bool, backend: str, serve_metrics: bool = False) -> list[str]:
    """The agent's command line: upstream's flags plus ours (--backend, --health-address, and
    --metrics-address on the node's address when Prometheus scrapes it; else the agent's
    loopback default)."""
    args = [f"--masq-chain={MASQ_CHAIN}", f"--backend={backend}"]
    if enable_ipv6:
        args.append("--enable-ipv6")
    args.append(f"--health-address={AGENT_HEALTH_ADDRESS}")
    if serve_metrics:
        args.append(f"--metrics-address={NODE_METRICS_ADDRESS}")
    args.append("--v=2")
    return args


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
) -> k8s.apps.v1.DaemonSetSpecArgs:
    """Least privilege for a node NAT agent: host network, NET_ADMIN + NET_RAW, nothing more.

    `serve_metrics` adds the named `metrics` port the PodMonitor selects and the node's
    address (downward API) that the args' `$(NODE_IP)` expands to.
    """
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

    def probe(path: str) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(
                host=AGENT_HEALTH_HOST, path=path, port=AGENT_HEALTH_PORT
            ),
            period_seconds=10,
            timeout_seconds=2,
            failure_threshold=3,
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
            requests={"cpu": "10m", "memory": "32Mi"},
            limits={"cpu": "100m", "memory": "96Mi"},
        ),
        liveness_probe=probe(LIVENESS_PATH),
        readiness_probe=probe(READINESS_PATH),
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
                priority_class_name="system-node-critical",
                node_selector={"kubernetes.io/os": "linux"},
                affinity=node_architecture_affinity(),
                # No key, no effect: tolerate every taint, so every node gets NAT rules.
                tolerations=[k8s.core.v1.TolerationArgs(operator="Exists")],
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
