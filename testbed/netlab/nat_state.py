"""What NAT rules a namespace's kernel holds, as comparable text (counters and stamps removed)."""

import json
import re

from ip_masq_agent.backends.nftables.listing import lookups, slot_blind
from ip_masq_agent.backends.nftables.names import in_slot, slot_of
from testbed.netlab.lab import Namespace

# Per backend: the tools that list everything it could have written.
_LISTINGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "iptables": (("iptables-save", "-t", "nat"), ("ip6tables-save", "-t", "nat")),
    "iptables-nft": (("iptables-nft-save", "-t", "nat"), ("ip6tables-nft-save", "-t", "nat")),
    "iptables-legacy": (
        ("iptables-legacy-save", "-t", "nat"),
        ("ip6tables-legacy-save", "-t", "nat"),
    ),
    "nftables": (("nft", "-j", "-s", "list", "ruleset"),),
}
_COUNTERS = re.compile(r"\[\d+:\d+\]")


def normalize_listing(text: str) -> str:
    """Drop comment lines (they carry timestamps) and packet counters."""
    lines = (_COUNTERS.sub("", line).rstrip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def acting_ruleset(listing: str) -> str:
    """`nft -j -s list ruleset` as the rules act, one object per line, handles left out.

    The agent makes a family's set anew under its other name and then points its chain at
    it, two transactions: the set's two names are one set here (its slot-0 name), and a set
    no rule looks up while its other name is (a swap cut short between the two) acts on
    nothing and is left out. Anything else is kept as listed.
    """
    objects = [o for o in json.loads(listing)["nftables"] if "metainfo" not in o]
    looked_up = {
        (o["rule"]["table"], name)
        for o in objects
        if "rule" in o
        for name in lookups(o["rule"]["expr"])
    }
    lines = []
    for entry in objects:
        ((kind, body),) = entry.items()
        body = {key: value for key, value in body.items() if key != "handle"}
        if kind == "set":
            table, (name, slot) = body["table"], slot_of(body["name"])
            stray = (table, body["name"]) not in looked_up
            if stray and (table, in_slot(name, 1 - slot)) in looked_up:
                continue
            body["name"] = name
        lines.append(f"{kind} {json.dumps(slot_blind(body), sort_keys=True)}")
    return "\n".join(lines)


def nat_fingerprint(ns: Namespace, backend: str) -> str:
    """Everything the backend's tools list in `ns`, normalized: equal text, equal rules."""
    parts = []
    for argv in _LISTINGS[backend]:
        listed = ns.run(*argv).stdout
        text = acting_ruleset(listed) if argv[0] == "nft" else normalize_listing(listed)
        parts.append(f"== {' '.join(argv)}\n{text}")
    return "\n".join(parts)
