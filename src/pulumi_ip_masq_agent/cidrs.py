"""CIDR math for the components and the policies (netaddr): parse, merge, cover."""

from collections.abc import Iterable, Sequence

import netaddr

from pulumi_ip_masq_agent.ranges import Range, describe, known_cidr


class CidrError(ValueError):
    """A range that must be rejected; the message is one line naming the range and the value."""


def parse_cidr(
    text: str, *, where: str, ipv6_enabled: bool = True, ipv6_switch: str = "enable_ipv6"
) -> netaddr.IPNetwork:
    """Parse one CIDR strictly: `a.b.c.d/n` or IPv6 `x::/n`, aligned, not a default route.
    `ipv6_switch` is what the user sets to allow IPv6 (named in the error)."""
    address, slash, prefix = text.partition("/")
    if not slash or not prefix.isdecimal() or not prefix.isascii():
        raise CidrError(f"{where}: {text!r} is not a CIDR (want e.g. 10.0.0.0/8)")
    try:
        # INET_PTON refuses shorthand such as "10.1" that would silently mean 10.0.0.1.
        ip = netaddr.IPAddress(address, flags=netaddr.INET_PTON)
        network = netaddr.IPNetwork(f"{ip}/{int(prefix)}")
    except (netaddr.AddrFormatError, ValueError):
        raise CidrError(f"{where}: {text!r} is not a CIDR (want e.g. 10.0.0.0/8)") from None
    if network.network != ip:
        raise CidrError(f"{where}: {text!r} has host bits set (the network is {network.cidr})")
    if network.prefixlen == 0:
        # A default route in nonMasqueradeCIDRs switches masquerading off for all egress.
        raise CidrError(f"{where}: {text!r} would exempt every destination from masquerading")
    if network.version == 6 and not ipv6_enabled:
        raise CidrError(
            f"{where}: {text!r} is IPv6 but the cluster is not dual-stack ({ipv6_switch})"
        )
    return network


def read_network(text: str) -> netaddr.IPNetwork | None:
    """A CIDR as a cloud API reports it (host bits are dropped), or None when it is no CIDR:
    GKE also takes a bare `/14` (size only; GCP picks the range, known after deployment)."""
    address, slash, prefix = text.partition("/")
    if not slash or not prefix.isdecimal() or not prefix.isascii():
        return None
    try:
        ip = netaddr.IPAddress(address, flags=netaddr.INET_PTON)
        return netaddr.IPNetwork(f"{ip}/{int(prefix)}").cidr
    except (netaddr.AddrFormatError, ValueError):
        return None


def merge_networks(networks: Iterable[netaddr.IPNetwork]) -> list[netaddr.IPNetwork]:
    """Collapse overlapping and adjacent blocks; IPv4 first, then IPv6, each ascending."""
    merged = netaddr.cidr_merge(list(networks))
    return sorted(merged, key=lambda net: (net.version, net.first, net.prefixlen))


def uncovered(
    required: netaddr.IPNetwork, covering: Iterable[netaddr.IPNetwork]
) -> list[netaddr.IPNetwork]:
    """The parts of `required` that no CIDR in `covering` contains (empty when covered)."""
    remaining = netaddr.IPSet([required]) - netaddr.IPSet(covering)
    return merge_networks(remaining.iter_cidrs())


# Ranges named in the merged-default-route error; more are counted.
_NAMED_RANGES = 4


def _default_route_error(
    merged: netaddr.IPNetwork, parsed: list[tuple[Range, netaddr.IPNetwork]]
) -> CidrError:
    """Ranges that are each fine but merge into a default route (`0.0.0.0/1` and
    `128.0.0.0/1`): named are the widest ones of that family, those no other range contains."""
    family = [(r, net) for r, net in parsed if net.version == merged.version]
    widest: list[tuple[Range, netaddr.IPNetwork]] = []
    for item, net in family:
        if not any(net in other and net != other for _, other in family) and all(
            net != kept for _, kept in widest
        ):
            widest.append((item, net))
    widest.sort(key=lambda pair: (pair[1].first, pair[1].prefixlen))
    shown = widest[:_NAMED_RANGES]
    more = f" (+{len(widest) - len(shown)} more)" if len(widest) > len(shown) else ""
    names = ", ".join(describe(item) for item, _ in shown) + more
    cidrs = ", ".join(repr(known_cidr(item)) for item, _ in shown)
    return CidrError(
        f"{names}: {cidrs} merge into {merged.cidr}, which would exempt every destination"
        " from masquerading"
    )


def derive_non_masquerade_cidrs(
    ranges: Sequence[Range],
    *,
    ipv6_enabled: bool,
    cidr_limit: int,
    ipv6_switch: str = "enable_ipv6",
    limit_name: str = "cidr_limit",
) -> tuple[str, ...]:
    """The agent's nonMasqueradeCIDRs for these resolved ranges; CidrError names the range."""
    networks = [
        parse_cidr(
            known_cidr(r), where=describe(r), ipv6_enabled=ipv6_enabled, ipv6_switch=ipv6_switch
        )
        for r in ranges
    ]
    merged = merge_networks(networks)
    for net in merged:
        if net.prefixlen == 0:
            raise _default_route_error(net, list(zip(ranges, networks, strict=True)))
    result = tuple(str(net.cidr) for net in merged)
    if len(result) > cidr_limit:
        raise CidrError(
            f"{limit_name}: the ranges merge into {len(result)} nonMasqueradeCIDRs, "
            f"{len(result) - cidr_limit} more than {limit_name} {cidr_limit} "
            f"(raise {limit_name} or use fewer, wider ranges)"
        )
    return result
