"""Whether a CIDR is live in the agent's nftables table: in the set its chain looks up now.

The agent fills a family's set under one of two names in turn and then points its chain at
it (backends/nftables/script.swap_scripts), so "in a set named nomasq_ipv4" is not "live":
between the two transactions the new set is complete and not yet looked up. One
`nft -j list table` gives both the chain's lookup and the sets, read by the json module.
"""

import json

from ip_masq_agent.backends.nftables.listing import ListingError, lookups, parse_listing
from ip_masq_agent.prefixes import Prefix
from testbed.netlab.lab import Namespace


def live_set(listing: str, family: str) -> str | None:
    """The set our chain looks up for `family` in an `nft -j list table` listing."""
    rules = (o["rule"] for o in json.loads(listing)["nftables"] if "rule" in o)
    names = (n for rule in rules for n in lookups(rule["expr"]) if n.startswith(f"nomasq_{family}"))
    return next(names, None)


def holds(ns: Namespace, table: str, cidr: Prefix) -> bool:
    """Whether every address of `cidr` is in the set `table`'s chain looks up now."""
    done = ns.run("nft", "-j", "list", "table", "inet", table, check=False)
    if done.returncode != 0:
        return False
    family = "ipv4" if cidr.version == 4 else "ipv6"
    live = live_set(done.stdout, family)
    try:
        listed = parse_listing(done.stdout)
    except ListingError:
        return False
    return any(
        s.kernel_name == live and first <= cidr.first and cidr.last <= last
        for s in listed.sets
        for first, last in s.elements
    )
