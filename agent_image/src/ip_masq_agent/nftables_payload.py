"""The nftables script for a DesiredRules plan: one `inet` table replaced in one transaction."""

import ipaddress
from collections.abc import Iterable
from typing import Final

from ip_masq_agent.config import Network
from ip_masq_agent.rules import DesiredRules, Family, FamilyRules, Masquerade

DEFAULT_TABLE: Final = "ip-masq-agent"
CHAIN: Final = "postrouting"
# The protocols whose source port NAT can choose; the iptables backend uses the same three.
PORT_PROTOCOLS: Final = ("tcp", "udp", "sctp")

_ADDRESS_TYPE: Final[dict[Family, str]] = {"ipv4": "ipv4_addr", "ipv6": "ipv6_addr"}
_DADDR: Final[dict[Family, str]] = {"ipv4": "ip daddr", "ipv6": "ip6 daddr"}


def set_name(family: Family) -> str:
    """The interval set holding one family's non-masquerade destinations."""
    return f"nomasq_{family}"


def merge_cidrs(cidrs: Iterable[Network]) -> list[Network]:
    """Overlapping and adjacent CIDRs merged, sorted: nft interval sets refuse overlaps.

    Merging here (rather than `auto-merge` in the set) keeps `nft list` equal to what we wrote,
    so the listing stays a faithful fingerprint for drift detection.
    """
    v4 = [c for c in cidrs if isinstance(c, ipaddress.IPv4Network)]
    v6 = [c for c in cidrs if isinstance(c, ipaddress.IPv6Network)]
    merged: list[Network] = [*ipaddress.collapse_addresses(v4)]
    merged.extend(ipaddress.collapse_addresses(v6))
    return merged


def _set_block(rules: FamilyRules) -> list[str]:
    lines = [
        f"\tset {set_name(rules.family)} {{",
        f"\t\ttype {_ADDRESS_TYPE[rules.family]}",
        "\t\tflags interval",
    ]
    elements = merge_cidrs(rules.non_masquerade)
    if elements:
        lines.append(f"\t\telements = {{ {', '.join(str(e) for e in elements)} }}")
    lines.append("\t}")
    return lines


def _masquerade_rules(family: Family, masquerade: Masquerade) -> list[str]:
    """Masquerade for one family; several `--to-ports` ranges drawn with size-weighted odds.

    Range i is taken with probability size_i / (sizes of ranges i..n) given the earlier ones were
    not: overall each range is chosen in proportion to its size, as the iptables backend's
    `statistic` rules do. The last range needs no draw. Other protocols (ICMP) have no ports and
    fall through to the plain masquerade.
    """
    scope = f"meta nfproto {family}"
    flags = " fully-random" if masquerade.random_fully else ""
    lines: list[str] = []
    remaining = sum(r.size for r in masquerade.to_ports)
    protocols = "meta l4proto { " + ", ".join(PORT_PROTOCOLS) + " }"
    for port_range in masquerade.to_ports:
        draw = (
            ""
            if port_range.size == remaining
            else f" numgen random mod {remaining} < {port_range.size}"
        )
        ports = (
            str(port_range.first)
            if port_range.first == port_range.last
            else f"{port_range.first}-{port_range.last}"
        )
        lines.append(f"\t\t{scope} {protocols}{draw} masquerade to :{ports}{flags}")
        remaining -= port_range.size
    lines.append(f"\t\t{scope} masquerade{flags}")
    return lines


def render_nftables_payload(desired: DesiredRules, *, table: str = DEFAULT_TABLE) -> str:
    """The `nft -f` script: create-if-missing, delete, redefine the table, all one transaction.

    The leading empty `table` makes the `delete` valid on a node where the table does not exist
    yet, so first apply, re-apply and repair are one and the same script.
    """
    lines = [
        f"table inet {table} {{}}",
        f"delete table inet {table}",
        f"table inet {table} {{",
    ]
    for rules in desired.families:
        lines.extend(_set_block(rules))
    lines.extend(
        [
            f"\tchain {CHAIN} {{",
            "\t\ttype nat hook postrouting priority srcnat; policy accept;",
            # Upstream's `-m addrtype ! --dst-type LOCAL`: the node's own addresses are not NATed.
            "\t\tfib daddr type local return",
        ]
    )
    for rules in desired.families:
        lines.append(f"\t\t{_DADDR[rules.family]} @{set_name(rules.family)} return")
    for rules in desired.families:
        lines.extend(_masquerade_rules(rules.family, rules.masquerade))
    lines.extend(["\t}", "}"])
    return "\n".join(lines) + "\n"


def render_nftables_cleanup(*, table: str = DEFAULT_TABLE) -> str:
    """The `nft -f` script removing the table, valid whether or not the table exists."""
    return f"table inet {table} {{}}\ndelete table inet {table}\n"
