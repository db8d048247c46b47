"""Derive the agent's nonMasqueradeCIDRs from the network's ranges: validated, merged, sorted."""

from collections.abc import Iterable
from dataclasses import dataclass

import netaddr


class CidrError(ValueError):
    """A range that must be rejected; the message is one line naming the key and the value."""


@dataclass(frozen=True)
class RangeSource:
    """One range and where it came from (a config key or a live resource), named in errors."""

    key: str
    cidr: str


def parse_range(source: RangeSource, *, ipv6_enabled: bool) -> netaddr.IPNetwork:
    """Parse one CIDR strictly: `a.b.c.d/n` or IPv6 `x::/n`, aligned, not a default route."""
    key, text = source.key, source.cidr
    address, slash, prefix = text.partition("/")
    if not slash or not prefix.isdecimal() or not prefix.isascii():
        raise CidrError(f"{key}: {text!r} is not a CIDR (want e.g. 10.0.0.0/8)")
    try:
        # INET_PTON refuses shorthand such as "10.1" that would silently mean 10.0.0.1.
        ip = netaddr.IPAddress(address, flags=netaddr.INET_PTON)
        network = netaddr.IPNetwork(f"{ip}/{int(prefix)}")
    except (netaddr.AddrFormatError, ValueError):
        raise CidrError(f"{key}: {text!r} is not a CIDR (want e.g. 10.0.0.0/8)") from None
    if network.network != ip:
        raise CidrError(f"{key}: {text!r} has host bits set (the network is {network.cidr})")
    if network.prefixlen == 0:
        # A default route in nonMasqueradeCIDRs switches masquerading off for all egress.
        raise CidrError(f"{key}: {text!r} would exempt every destination from masquerading")
    if network.version == 6 and not ipv6_enabled:
        raise CidrError(f"{key}: {text!r} is IPv6 but the cluster is not dual-stack (ipv6UlaRange)")
    return network


def merge_networks(networks: Iterable[netaddr.IPNetwork]) -> list[netaddr.IPNetwork]:
    """Collapse overlapping and adjacent blocks; IPv4 first, then IPv6, each ascending."""
    merged = netaddr.cidr_merge(list(networks))
    return sorted(merged, key=lambda net: (net.version, net.first, net.prefixlen))


def derive_non_masquerade_cidrs(
    sources: Iterable[RangeSource], *, ipv6_enabled: bool, cidr_limit: int
) -> tuple[str, ...]:
    """The agent's nonMasqueradeCIDRs for these ranges; CidrError for any bad range or overflow."""
    networks = [parse_range(source, ipv6_enabled=ipv6_enabled) for source in sources]
    result = tuple(str(net.cidr) for net in merge_networks(networks))
    if len(result) > cidr_limit:
        raise CidrError(
            f"cidrLimit: the ranges merge into {len(result)} nonMasqueradeCIDRs, "
            f"{len(result) - cidr_limit} more than cidrLimit {cidr_limit} "
            "(raise cidrLimit or use fewer, wider ranges)"
        )
    return result
