"""The names, paths, ports and defaults the agent, the Pulumi component, the policies and the
testbed must agree on: each written once, here.

The agent package is the one both sides already import (the component checks its document
with the agent's own parser), so the contract lives in it; it is plain values, stdlib only,
as the agent runs on Debian's python3.
"""

from typing import Final, Literal

# --- The ConfigMap (upstream's name and key: upstream's agent and GKE Dataplane V2 read
# exactly this object, so these are compatibility, not taste).
CONFIG_MAP_NAME: Final = "ip-masq-agent"
CONFIG_MAP_NAMESPACE: Final = "kube-system"
CONFIG_MAP_KEY: Final = "config"
# The ConfigMap is mounted at CONFIG_DIR with its key projected to CONFIG_FILE_NAME, so the
# agent reads DEFAULT_CONFIG_PATH, as upstream's manifests do.
CONFIG_DIR: Final = "/etc/config"
CONFIG_FILE_NAME: Final = "ip-masq-agent"
DEFAULT_CONFIG_PATH: Final = f"{CONFIG_DIR}/{CONFIG_FILE_NAME}"

# --- The agent's workload in kube-system: its name (also the container's and the app label's).
AGENT_NAME: Final = "ip-masq-agent"
AGENT_NAMESPACE: Final = CONFIG_MAP_NAMESPACE

# --- What the DaemonSet may hold of the host, and how it is scheduled (the component writes
# it, the least-privilege policy holds any DaemonSet of the agent to it). iptables-restore
# --wait takes this lock, shared with kube-proxy; node agents are what pods' traffic depends
# on: evicted last, scheduled first.
XTABLES_LOCK: Final = "/run/xtables.lock"
NODE_CRITICAL_PRIORITY_CLASS: Final = "system-node-critical"

# --- The config document's defaults (upstream's: a document this project writes means what
# upstream's agent would take it to mean).
DEFAULT_CIDR_LIMIT: Final = 64
DEFAULT_RESYNC_SECONDS: Final = 60.0
DEFAULT_RESYNC_INTERVAL: Final = "60s"  # the same, as the document's Go duration

# --- Backends: the names `--backend` takes.
BackendName = Literal["auto", "iptables", "nftables", "iptables-nft", "iptables-legacy"]
BACKEND_AUTO: Final = "auto"
BACKEND_IPTABLES: Final = "iptables"
BACKEND_NFTABLES: Final = "nftables"
BACKEND_IPTABLES_NFT: Final = "iptables-nft"
BACKEND_IPTABLES_LEGACY: Final = "iptables-legacy"
BACKEND_NAMES: Final[tuple[BackendName, ...]] = (
    BACKEND_AUTO,
    BACKEND_IPTABLES,
    BACKEND_NFTABLES,
    BACKEND_IPTABLES_NFT,
    BACKEND_IPTABLES_LEGACY,
)
# The backends that write distinct kernel objects (`iptables` is one of the two flavours).
IPTABLES_FLAVORS: Final = (BACKEND_IPTABLES_LEGACY, BACKEND_IPTABLES_NFT)

# --- What the agent owns in the kernel: upstream's chain (in the nat table), and the nftables
# backend's table and its one base chain.
DEFAULT_CHAIN: Final = "IP-MASQ-AGENT"
DEFAULT_NFT_TABLE: Final = "ip-masq-agent"
NFT_CHAIN: Final = "postrouting"
# Protocols a --to-ports range (a port per protocol) applies to.
PORT_PROTOCOLS: Final = ("tcp", "udp", "sctp")

# --- Health and metrics. kubelet uses 10248/10250/10255/10257/10259 (with the controllers),
# kube-proxy 10249/10256; 10261 and 10262 are free of all of them and of the usual node
# exporters (9100) and CNI agents. Loopback by default: with hostNetwork that is the node's
# own, where kubelet probes from (the DaemonSet's probes say `host: 127.0.0.1`); no pod
# reaches it, and what /metrics exports is for the node's scraper only (as kube-proxy's).
LOOPBACK_IPV4: Final = "127.0.0.1"
LOOPBACK_IPV6: Final = "::1"
# What a probe's or listener's host may be to stay on the node (the policy's check).
LOOPBACK_HOSTS: Final = frozenset({LOOPBACK_IPV4, LOOPBACK_IPV6, "localhost"})
HEALTH_PORT: Final = 10261
METRICS_PORT: Final = 10262
DEFAULT_HEALTH_ADDRESS: Final = f"{LOOPBACK_IPV4}:{HEALTH_PORT}"
DEFAULT_METRICS_ADDRESS: Final = f"{LOOPBACK_IPV4}:{METRICS_PORT}"
LIVENESS_PATH: Final = "/healthz"  # fails only when syncs are stuck or keep failing
READINESS_PATH: Final = "/readyz"  # ready after the first successful sync
METRICS_PATH: Final = "/metrics"
# The container ports' protocol (Kubernetes' name for it).
HTTP_PORT_PROTOCOL: Final = "TCP"
