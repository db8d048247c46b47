"""The choices and shapes of the agent's component arguments: dataplane, backend, phase,
tolerations and resources."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, NotRequired, TypedDict

import pulumi

from ip_masq_agent.contract import (
    BACKEND_AUTO,
    BACKEND_IPTABLES,
    BACKEND_IPTABLES_LEGACY,
    BACKEND_IPTABLES_NFT,
    BACKEND_NFTABLES,
)


class Dataplane(StrEnum):
    """Deprecated (use `platform`): the cluster's dataplane, which agent reads the ConfigMap."""

    LEGACY = "legacy"
    """kube-proxy dataplane: our agent runs as a DaemonSet on every node (gke-standard)."""
    V2 = "v2"
    """GKE Dataplane V2 reads the ConfigMap; no DaemonSet (gke-dataplane-v2)."""


class Backend(StrEnum):
    """The agent's --backend."""

    AUTO = BACKEND_AUTO
    """nftables when the node's kernel and tools have it, else iptables."""
    IPTABLES = BACKEND_IPTABLES
    """upstream-identical iptables rules."""
    NFTABLES = BACKEND_NFTABLES
    """one nftables table with sets of CIDRs."""
    IPTABLES_NFT = BACKEND_IPTABLES_NFT
    """upstream's chain, always through iptables-nft."""
    IPTABLES_LEGACY = BACKEND_IPTABLES_LEGACY
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
    """e.g. {"cpu": "1", "memory": "160Mi"}."""


# What the agent needs at the largest config it accepts, measured in a cgroup limited as the
# container is (tests/agent/kernel/test_agent_memory.py): the iptables backends' 20,000 CIDRs
# fit 96Mi; nftables' 50,000 peak at ~146 MiB during an edit, the agent (~66 MiB, old and new
# config) and `nft` loading the new set (~76 MiB) at once. The default fits either.
# CPU: the request is what an idle agent uses (~10 ms a minute). The limit is one core, because
# the agent is one Python thread, then one tool process, never both: a whole core never
# throttles it, so a config edit is live as fast as the benchmarks measure (a tenth of a core,
# the limit before, made a 10,000-CIDR edit take seconds and a start about five).
DEFAULT_RESOURCES: Final[Resources] = {
    "requests": {"cpu": "10m", "memory": "32Mi"},
    "limits": {"cpu": "1", "memory": "160Mi"},
}
MINIMUM_MEMORY_LIMIT: Final = 96 * 1024 * 1024
MINIMUM_MEMORY_LIMIT_NFTABLES: Final = 160 * 1024 * 1024


def minimum_memory_limit(backend: object) -> int:
    """The memory limit the agent's largest config on `backend` needs (`config_bounds.limit_for`:
    only `nftables` named outright accepts 50,000 CIDRs; an unresolved Output is `auto`'s)."""
    return MINIMUM_MEMORY_LIMIT_NFTABLES if backend == BACKEND_NFTABLES else MINIMUM_MEMORY_LIMIT
