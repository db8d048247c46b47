"""What the benchmarks feed the agent: synthetic CIDR lists, plans, backends in a namespace."""

import ipaddress
import statistics
from collections.abc import Sequence
from typing import Final

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.registry import BackendSettings, default_backend_registry
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.config import AgentConfig
from ip_masq_agent.contract import (
    BACKEND_IPTABLES_LEGACY,
    BACKEND_IPTABLES_NFT,
    BACKEND_NFTABLES,
    DEFAULT_CHAIN,
)
from ip_masq_agent.prefixes import Prefix
from ip_masq_agent.rules import DesiredRules, Masquerade, plan_rules

CHAIN: Final = DEFAULT_CHAIN
BACKENDS: Final = (BACKEND_IPTABLES_NFT, BACKEND_IPTABLES_LEGACY, BACKEND_NFTABLES)
# Well clear of the lab's own ranges (10/8, 169.254/16, 203.0.113/24, fd00::/8).
_BASE: Final = int(ipaddress.IPv4Address("11.0.0.0"))


def synthetic_cidrs(count: int, *, offset: int = 0) -> tuple[Prefix, ...]:
    """`count` /24s with a /24 gap after each: nothing merges, so N CIDRs stay N entries."""
    return tuple(Prefix(4, _BASE + (offset + index) * 512, 24) for index in range(count))


def config_text(cidrs: Sequence[Prefix], resync: str = "60s") -> str:
    """A ConfigMap document for these CIDRs (cidrLimit raised to fit)."""
    listed = ", ".join(str(c) for c in cidrs)
    return (
        f"nonMasqueradeCIDRs: [{listed}]\ncidrLimit: {max(len(cidrs), 64)}\n"
        f"resyncInterval: {resync}\n"
    )


def plan(cidrs: Sequence[Prefix]) -> DesiredRules:
    """The plan the agent would make for these CIDRs (IPv4, link-local kept, random-fully)."""
    config = AgentConfig(non_masquerade_cidrs=tuple(cidrs), cidr_limit=max(len(cidrs), 64))
    return plan_rules(config, chain=CHAIN, enable_ipv6=False, masquerade=Masquerade())


def backend(name: str, run: CommandRunner) -> Backend:
    """A backend as `--backend NAME` builds it, running its tools through `run`."""
    return default_backend_registry().create(name, BackendSettings(CHAIN, ("ipv4",), run))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 50 samples is the 48th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]
