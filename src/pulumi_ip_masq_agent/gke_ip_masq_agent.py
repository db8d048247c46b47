"""The GkeIpMasqAgent component: IpMasqAgent on the ranges pulumi-gcp's lookups read from a GKE
subnet and cluster named by id or self link, so every language derives the list."""

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final, NamedTuple, NotRequired, TypedDict, cast

import pulumi
import pulumi_gcp as gcp

from pulumi_ip_masq_agent.arguments import ArgumentError, check_known, check_list, is_plain
from pulumi_ip_masq_agent.gke_range_reader import (
    looked_up_cluster_ranges,
    looked_up_subnetwork_ranges,
)
from pulumi_ip_masq_agent.ip_masq_agent import (
    AgentPhase,
    Backend,
    IpMasqAgent,
    IpMasqAgentArgs,
    Resources,
    Toleration,
    check_agent_settings,
)
from pulumi_ip_masq_agent.monitoring import Monitoring
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range, concat_ranges, resolve_ranges


class GkeIpMasqAgentArgs(TypedDict):
    """Inputs of the GkeIpMasqAgent component: the GKE subnet and cluster its ranges are read
    from, and IpMasqAgent's settings, passed through as they are."""

    subnetwork: pulumi.Input[str]
    """The cluster's subnet, by id (`projects/P/regions/R/subnetworks/S`) or self link: its
    primary range, every secondary range and, when dual-stack, its internal IPv6 range."""
    cluster: NotRequired[pulumi.Input[str]]
    """The cluster, by id (`projects/P/locations/L/clusters/C`) or self link: a private
    cluster's control-plane range (a public cluster adds none)."""
    extra_ranges: NotRequired[pulumi.Input[Sequence[pulumi.Input[Range]]]]
    """More ranges pods reach without SNAT (peers, on-prem...), after the subnet's and cluster's."""
    # IpMasqAgent's own arguments (all but `ranges` and the deprecated ones), passed through.
    # The schema takes descriptions from this class's source only, hence the copies;
    # tests/components/test_provider.py keeps each equal to IpMasqAgent's in the schema.
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
    """The agent's --backend (default auto). It sets how many CIDRs the config may plan:
    50,000 on nftables, 20,000 otherwise (auto may pick iptables)."""
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
    memory 32Mi, limits cpu 1, memory 160Mi: the largest config the agent accepts is
    measured to fit 96Mi on the iptables backends (20,000 planned CIDRs) and 160Mi on nftables
    (50,000), so a lower memory limit is refused; plain)."""
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


# This component's own arguments; every other one is IpMasqAgent's, passed through.
OWN_ARGUMENTS: Final = ("subnetwork", "cluster", "extra_ranges")


class GcpPath(NamedTuple):
    """Where a lookup finds a resource: its project, region or location, and name."""

    project: str
    location: str
    name: str


# An id (`projects/...`) or a self link ending in one (`https://.../v1/projects/...`).
SUBNETWORK_PATH: Final = re.compile(
    r"(?:^|/)projects/(?P<project>[^/]+)/regions/(?P<location>[^/]+)/subnetworks/(?P<name>[^/]+)$"
)
# Clusters' self links name a zone for zonal clusters (`zones/Z`), ids a location.
CLUSTER_PATH: Final = re.compile(
    r"(?:^|/)projects/(?P<project>[^/]+)/(?:locations|zones)/(?P<location>[^/]+)"
    r"/clusters/(?P<name>[^/]+)$"
)
SUBNETWORK_FORM: Final = "projects/P/regions/R/subnetworks/S or its self link"
CLUSTER_FORM: Final = "projects/P/locations/L/clusters/C or its self link"


def parse_gcp_path(
    where: str, key: str, value: object, pattern: re.Pattern[str], form: str
) -> GcpPath:
    """The project, location and name in an id or self link; one line naming `key` otherwise."""
    found = pattern.search(value) if isinstance(value, str) else None
    if found is None:
        raise ArgumentError(f"{where}: {key}: {value!r} is not an id or self link ({form})")
    return GcpPath(found["project"], found["location"], found["name"])


class GkeIpMasqAgent(pulumi.ComponentResource):
    """IpMasqAgent on the ranges of a GKE subnet and cluster, read by pulumi-gcp's lookups from
    their ids or self links: the derivation `gke_ranges` does in Python, for every language."""

    ranges: pulumi.Output[list[Range]]
    """The ranges read (subnet, then control plane) followed by `extraRanges`, with labels and
    origins: the IpMasqAgent's `ranges`."""
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
        self, name: str, args: GkeIpMasqAgentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        where = f"GkeIpMasqAgent {name}"
        check_known(where, args, GkeIpMasqAgentArgs)
        subnetwork_path = _path_reader(where, "subnetwork", SUBNETWORK_PATH, SUBNETWORK_FORM)
        cluster_path = _path_reader(where, "cluster", CLUSTER_PATH, CLUSTER_FORM)
        # Plain ids are checked now, before anything is registered; Outputs where they resolve.
        if is_plain(args["subnetwork"]):
            subnetwork_path(args["subnetwork"])
        if "cluster" in args and is_plain(args["cluster"]):
            cluster_path(args["cluster"])
        if "extra_ranges" in args:
            check_list(where, "extra_ranges", args["extra_ranges"])
        check_agent_settings(where, {k: v for k, v in args.items() if k not in OWN_ARGUMENTS})
        super().__init__("ip-masq-agent:index:GkeIpMasqAgent", name, {}, opts)
        # Invokes parented like children: they read through the component's gcp provider.
        invoke = pulumi.InvokeOptions(parent=self)

        groups: list[pulumi.Input[Sequence[pulumi.Input[Range]]]] = [
            _looked_up_ranges(
                "Subnetwork",
                args["subnetwork"],
                subnetwork_path,
                lambda path: gcp.compute.get_subnetwork_output(
                    project=path.project, region=path.location, name=path.name, opts=invoke
                ),
                looked_up_subnetwork_ranges,
            )
        ]
        if "cluster" in args:
            groups.append(
                _looked_up_ranges(
                    "Cluster",
                    args["cluster"],
                    cluster_path,
                    lambda path: gcp.container.get_cluster_output(
                        project=path.project, location=path.location, name=path.name, opts=invoke
                    ),
                    looked_up_cluster_ranges,
                )
            )
        if "extra_ranges" in args:
            groups.append(resolve_ranges(args["extra_ranges"], argument=f"{where}: extra_ranges"))
        self.ranges = concat_ranges(*groups)

        passed = {k: v for k, v in args.items() if k not in OWN_ARGUMENTS}
        agent = IpMasqAgent(
            name,
            cast(IpMasqAgentArgs, {"ranges": self.ranges, **passed}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.non_masquerade_cidrs = agent.non_masquerade_cidrs
        self.config_map_name = agent.config_map_name
        self.daemon_set_name = agent.daemon_set_name
        self.egress_nat_policy_name = agent.egress_nat_policy_name
        self.register_outputs(
            {
                "ranges": self.ranges,
                "nonMasqueradeCidrs": self.non_masquerade_cidrs,
                "configMapName": self.config_map_name,
                "daemonSetName": self.daemon_set_name,
                "egressNatPolicyName": self.egress_nat_policy_name,
            }
        )


def _looked_up_ranges(
    kind: str,
    given: pulumi.Input[str],
    parse: Callable[[object], GcpPath],
    look_up: Callable[[pulumi.Output[GcpPath]], pulumi.Output[object]],
    read: Callable[[str, object], list[Range]],
) -> pulumi.Output[list[Range]]:
    """The ranges of the resource an id names, read from pulumi-gcp's lookup of it.

    `look_up` gets the parsed path as an Output (its fields lift: `path.project`), so an id
    that is itself an Output is parsed, and refused, only where it resolves.
    """
    resource_id = pulumi.Output.from_input(given)
    found = look_up(resource_id.apply(parse))
    return pulumi.Output.all(resource_id, found).apply(lambda v: read(f"{kind} {v[0]}", v[1]))


def _path_reader(
    where: str, key: str, pattern: re.Pattern[str], form: str
) -> Callable[[object], GcpPath]:
    def parse(value: object) -> GcpPath:
        return parse_gcp_path(where, key, value, pattern, form)

    return parse
