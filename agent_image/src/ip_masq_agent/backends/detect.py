"""`--backend auto`: the netfilter flavour a node uses, found as the Kubernetes wrappers do."""

import re
from dataclasses import dataclass
from typing import Final

from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.nftables_payload import DEFAULT_TABLE

# kubelet creates these in whichever iptables flavour the node uses (the hint since 1.24;
# the canary in mangle, nat and filter, so one chain may be counted up to three times).
KUBELET_HINT_CHAINS: Final = ("KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY")
# Tables that iptables-nft itself creates; any other nft table was written natively.
_IPTABLES_NFT_TABLES: Final = frozenset(
    f"{family} {name}"
    for family in ("ip", "ip6", "arp", "bridge")
    for name in ("filter", "nat", "mangle", "raw", "security")
)
_HINT_LINE: Final = re.compile(r"^:(?:" + "|".join(KUBELET_HINT_CHAINS) + r") ", re.M)


@dataclass(frozen=True)
class NodeEvidence:
    """What the node's netfilter looks like, excluding anything this agent owns."""

    nft_hints: int  # kubelet hint/canary chains seen through iptables-nft
    legacy_hints: int  # ... and through iptables-legacy
    nft_rules: int  # iptables rules (`-A` lines) in the nf_tables backend
    legacy_rules: int  # ... and in the legacy (x_tables) backend
    native_nft_tables: int  # nft tables not made by iptables-nft (kube-proxy nftables mode, CNIs)
    nft_usable: bool  # the `nft` tool works against this kernel


@dataclass(frozen=True)
class Detection:
    """The backend `auto` picked, and the one-line reason to log."""

    backend: str  # "nftables", "iptables-nft" or "iptables-legacy"
    reason: str


def choose_backend(evidence: NodeEvidence) -> Detection:
    """The iptables-wrapper order: kubelet's hints in nft, else in legacy, else more rules wins.

    A node found to be nf_tables-based gets native nftables: the same kernel subsystem as its
    iptables-nft rules (so no legacy/nft mix), one set lookup per new flow instead of a linear
    walk, and an atomic whole-table replace. iptables-nft only when the `nft` tool is unusable.
    """
    if evidence.nft_hints:
        mode, why = "nft", "kubelet hint chains in iptables-nft"
    elif evidence.legacy_hints:
        mode, why = "legacy", "kubelet hint chains in iptables-legacy"
    elif evidence.native_nft_tables:
        mode, why = "nft", f"{evidence.native_nft_tables} native nftables table(s)"
    else:
        counts = f"legacy rules {evidence.legacy_rules}, nft rules {evidence.nft_rules}"
        mode = "legacy" if evidence.legacy_rules > evidence.nft_rules else "nft"
        why = f"no kubelet hints; {counts}"
    if mode == "legacy":
        return Detection("iptables-legacy", why)
    if evidence.nft_usable:
        return Detection("nftables", why)
    return Detection("iptables-nft", f"{why}; nft tool unusable")


def count_hints(save_output: str) -> int:
    """Chain declarations of kubelet's hint chains in iptables-save output."""
    return len(_HINT_LINE.findall(save_output))


def count_rules(save_output: str, *, own_chain: str) -> int:
    """Rules in iptables-save output, leaving out our own chain and the jump into it.

    Matched as plain words, not a pattern built from the name: a chain name may hold
    characters a pattern reads as operators (`--masq-chain=IP.MASQ`).
    """
    ours, enter = f"-A {own_chain} ", f"-j {own_chain}"
    return sum(
        1
        for line in save_output.splitlines()
        if line.startswith("-") and not line.startswith(ours) and not line.endswith(enter)
    )


def count_native_tables(list_tables_output: str, *, own_table: str = DEFAULT_TABLE) -> int:
    """Tables in `nft list tables` that neither iptables-nft nor this agent made."""
    count = 0
    for line in list_tables_output.splitlines():
        words = line.split()
        if len(words) != 3 or words[0] != "table":
            continue
        name = f"{words[1]} {words[2]}"
        if name not in _IPTABLES_NFT_TABLES and name != f"inet {own_table}":
            count += 1
    return count


def gather_evidence(
    run: CommandRunner, *, own_chain: str, own_table: str = DEFAULT_TABLE
) -> NodeEvidence:
    """Read the node's rules (read-only: only whole-ruleset `-save` and `nft list` run)."""

    def save(flavor: str) -> str:
        # Whole-ruleset saves only: `-save -t TABLE` would create that (legacy) table in the
        # kernel, and reading must not change the node. A flavour that is missing or refuses
        # simply shows nothing.
        outputs = []
        for family_tool in ("iptables", "ip6tables"):
            result = run([f"{family_tool}-{flavor}-save"])
            if result.returncode == 0:
                outputs.append(result.stdout)
        return "\n".join(outputs)

    nft_saved, legacy_saved = save("nft"), save("legacy")
    tables = run(["nft", "list", "tables"])
    return NodeEvidence(
        nft_hints=count_hints(nft_saved),
        legacy_hints=count_hints(legacy_saved),
        nft_rules=count_rules(nft_saved, own_chain=own_chain),
        legacy_rules=count_rules(legacy_saved, own_chain=own_chain),
        native_nft_tables=(
            count_native_tables(tables.stdout, own_table=own_table) if tables.returncode == 0 else 0
        ),
        nft_usable=tables.returncode == 0,
    )


def detect_backend(
    run: CommandRunner, *, own_chain: str, own_table: str = DEFAULT_TABLE
) -> Detection:
    """Gather the evidence on this node and decide."""
    return choose_backend(gather_evidence(run, own_chain=own_chain, own_table=own_table))
