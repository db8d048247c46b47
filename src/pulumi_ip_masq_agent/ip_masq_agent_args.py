"""The IpMasqAgent component's arguments, one TypedDict (the provider infers its schema)."""

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi

from pulumi_ip_masq_agent.agent_options import AgentPhase, Backend, Dataplane, Resources, Toleration
from pulumi_ip_masq_agent.monitoring import Monitoring
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range


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
