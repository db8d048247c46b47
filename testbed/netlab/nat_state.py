"""What NAT rules a namespace's kernel holds, as comparable text (counters and stamps removed)."""

import re

from testbed.netlab.lab import Namespace

# Per backend: the tools that list everything it could have written.
_LISTINGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "iptables": (("iptables-save", "-t", "nat"), ("ip6tables-save", "-t", "nat")),
    "iptables-nft": (("iptables-nft-save", "-t", "nat"), ("ip6tables-nft-save", "-t", "nat")),
    "iptables-legacy": (
        ("iptables-legacy-save", "-t", "nat"),
        ("ip6tables-legacy-save", "-t", "nat"),
    ),
    "nftables": (("nft", "-s", "list", "ruleset"),),
}
_COUNTERS = re.compile(r"\[\d+:\d+\]")


def normalize_listing(text: str) -> str:
    """Drop comment lines (they carry timestamps) and packet counters."""
    lines = (_COUNTERS.sub("", line).rstrip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def nat_fingerprint(ns: Namespace, backend: str) -> str:
    """Everything the backend's tools list in `ns`, normalized: equal text, equal rules."""
    parts = []
    for argv in _LISTINGS[backend]:
        parts.append(f"== {' '.join(argv)}\n{normalize_listing(ns.run(*argv).stdout)}")
    return "\n".join(parts)
