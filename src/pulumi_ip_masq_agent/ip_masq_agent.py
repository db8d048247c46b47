"""The IpMasqAgent component: the derived list where the cluster reads it (ConfigMap and our
agent's DaemonSet, or GKE Autopilot's EgressNATPolicy)."""

from collections.abc import Sequence
from typing import Final

import pulumi
import pulumi_kubernetes as k8s

from ip_masq_agent.contract import (
    AGENT_NAMESPACE,
    CONFIG_MAP_KEY,
    CONFIG_MAP_NAME,
    CONFIG_MAP_NAMESPACE,
    DEFAULT_CIDR_LIMIT,
    DEFAULT_RESYNC_INTERVAL,
)
from pulumi_ip_masq_agent.agent_config import AgentConfigValues, ConfigError, render_agent_config
from pulumi_ip_masq_agent.agent_options import AgentPhase, Backend, Dataplane, Resources, Toleration
from pulumi_ip_masq_agent.arguments import ResolvedInputError
from pulumi_ip_masq_agent.cidrs import CidrError, derive_non_masquerade_cidrs
from pulumi_ip_masq_agent.daemon_set import (
    DAEMON_SET_NAME,
    DEFAULT_PRIORITY_CLASS,
    agent_args,
    daemon_set_spec,
    resource_labels,
    selector_labels,
)
from pulumi_ip_masq_agent.egress_nat_policy import (
    EGRESS_NAT_POLICY_NAME,
    register_egress_nat_policy,
)
from pulumi_ip_masq_agent.ip_masq_agent_args import IpMasqAgentArgs
from pulumi_ip_masq_agent.ip_masq_agent_checks import (
    agent_phase,
    check_agent_settings,
    check_arguments,
    check_autopilot,
    component_platform,
    plain,
)
from pulumi_ip_masq_agent.monitoring import DEFAULT_SELECTOR_LABELS, Monitoring
from pulumi_ip_masq_agent.monitoring_resources import register_dashboard, register_monitoring
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range, resolve_ranges

DASHBOARD_CONFIG_MAP: Final = "ip-masq-agent-dashboard"

# The argument types are re-exported: users import them from the component's module.
__all__ = [
    "NO_CIDR_LIMIT",
    "AgentPhase",
    "Backend",
    "Dataplane",
    "IpMasqAgent",
    "IpMasqAgentArgs",
    "Resources",
    "Toleration",
    "check_agent_settings",
    "fitted_cidr_limit",
]


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
        check_arguments(name, args)
        platform = component_platform(name, args)
        if platform is Platform.GKE_AUTOPILOT:
            check_autopilot(name, args)
        deploy = platform.runs_our_agent
        phase = agent_phase(name, args)
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
        dashboard = plain(name, args, "grafana_dashboard", bool, False)
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
                name, self.non_masquerade_cidrs, labels=resource_labels(), parent=self
            )
            # Known in preview, and only once the policy is registered.
            self.egress_nat_policy_name = policy.urn.apply(lambda _: EGRESS_NAT_POLICY_NAME)
        else:
            config_map = self._config_map(name, args, enable_ipv6, cidr_limit, child)
            if deploy:
                self._agent(name, args, enable_ipv6, config_map, monitoring=monitoring, phase=phase)
                if dashboard:
                    register_dashboard(
                        name,
                        namespace=AGENT_NAMESPACE,
                        object_name=DASHBOARD_CONFIG_MAP,
                        parent=self,
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
            args.get("backend", Backend.AUTO),
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
                backend=Backend(v[7]).value,
            )
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CONFIG_MAP_NAME, namespace=CONFIG_MAP_NAMESPACE, labels=resource_labels()
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
                name=DAEMON_SET_NAME, namespace=AGENT_NAMESPACE, labels=resource_labels()
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
                namespace=AGENT_NAMESPACE,
                object_name=DAEMON_SET_NAME,
                pod_labels=selector_labels(),
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


def _derive(
    name: str, ranges: Sequence[Range], *, enable_ipv6: bool, cidr_limit: int
) -> tuple[str, ...]:
    try:
        return derive_non_masquerade_cidrs(ranges, ipv6_enabled=enable_ipv6, cidr_limit=cidr_limit)
    except CidrError as err:
        raise ResolvedInputError(f"IpMasqAgent {name}: ranges: {err}") from None


def _document(name: str, values: AgentConfigValues, *, enable_ipv6: bool, backend: str) -> str:
    try:
        return render_agent_config(values, enable_ipv6=enable_ipv6, backend=backend)
    except ConfigError as err:
        raise ResolvedInputError(f"IpMasqAgent {name}: {err}") from None
