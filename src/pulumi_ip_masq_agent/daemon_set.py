"""Our agent's DaemonSet: its command line and its least-privilege pod spec."""

from collections.abc import Mapping, Sequence
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from ip_masq_agent.contract import (
    AGENT_NAME,
    CONFIG_DIR,
    CONFIG_FILE_NAME,
    CONFIG_MAP_KEY,
    CONFIG_MAP_NAME,
    DEFAULT_CHAIN,
    DEFAULT_HEALTH_ADDRESS,
    HEALTH_PORT,
    HTTP_PORT_PROTOCOL,
    LIVENESS_PATH,
    LOOPBACK_IPV4,
    METRICS_PORT,
    NODE_CRITICAL_PRIORITY_CLASS,
    READINESS_PATH,
    XTABLES_LOCK,
)
from pulumi_ip_masq_agent.agent_options import DEFAULT_RESOURCES, AgentPhase, Resources, Toleration
from pulumi_ip_masq_agent.scrape_targets import (
    METRICS_PORT_NAME,
    NODE_IP_ENV,
    NODE_METRICS_ADDRESS,
)

# GKE manages a DaemonSet called `ip-masq-agent` itself; ours must never be mistaken for it.
DAEMON_SET_NAME: Final = "ip-masq-agent-derived"
MASQ_CHAIN: Final = DEFAULT_CHAIN
# When kubelet first asks a new agent: it is listening by then after a normal start.
STARTUP_DELAY_SECONDS: Final = 2
DEFAULT_PRIORITY_CLASS: Final = NODE_CRITICAL_PRIORITY_CLASS
# The agent's own port on the node's loopback only: kubelet, on the node, probes 127.0.0.1
# (the probes' `host`); nothing off the node needs /healthz, and with hostNetwork any other
# address would be the node's, open to the network. The agent's default says the same.
AGENT_HEALTH_PORT: Final = HEALTH_PORT
AGENT_HEALTH_HOST: Final = LOOPBACK_IPV4
AGENT_HEALTH_ADDRESS: Final = DEFAULT_HEALTH_ADDRESS


def selector_labels() -> dict[str, str]:
    """The labels the DaemonSet selects its pods by (and the PodMonitor scrapes)."""
    return {
        "app.kubernetes.io/name": AGENT_NAME,
        "app.kubernetes.io/instance": DAEMON_SET_NAME,
    }


def resource_labels() -> dict[str, str]:
    """The labels of every Kubernetes object the component creates."""
    return {
        "app.kubernetes.io/name": AGENT_NAME,
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
    selector = selector_labels()
    ports = [
        k8s.core.v1.ContainerPortArgs(
            name="health", container_port=AGENT_HEALTH_PORT, protocol=HTTP_PORT_PROTOCOL
        )
    ]
    env = []
    if serve_metrics:
        ports.append(
            k8s.core.v1.ContainerPortArgs(
                name=METRICS_PORT_NAME, container_port=METRICS_PORT, protocol=HTTP_PORT_PROTOCOL
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
        name=AGENT_NAME,
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
        # (Python and its imports take well under a second on one core), so a start
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
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={**selector, **resource_labels()}),
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
                                k8s.core.v1.KeyToPathArgs(key=CONFIG_MAP_KEY, path=CONFIG_FILE_NAME)
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
