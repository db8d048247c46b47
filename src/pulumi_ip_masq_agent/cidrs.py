"""The component's and the policies' CIDR work, on the agent's own prefix type.

Every CIDR is read by `Prefix.parse` (the agent's parser), merged by `PrefixSet` and judged
for "exempts every destination" by `config_bounds.exempting_everything`, the function the
agent's config parser refuses such lists with: the stack, the component, the policies and
the agent cannot disagree on what a range is or whether a list of them is acceptable.
"""

from collections.abc import Iterable, Sequence

from ip_masq_agent.config_bounds import exempting_everything
from ip_masq_agent.prefixes import Prefix, PrefixError, PrefixSet
from pulumi_ip_masq_agent.ranges import Range, describe, known_cidr


class CidrError(ValueError):
    """A range that must be rejected; the message is one line naming the range and the value."""


def parse_cidr(
    text: str, *, where: str, ipv6_enabled: bool = True, ipv6_switch: str = "enable_ipv6"
) -> Prefix:
    """Parse one CIDR strictly: `a.b.c.d/n` or IPv6 `x::/n`, aligned.
    `ipv6_switch` is what the user sets to allow IPv6 (named in the error)."""
    try:
        prefix = Prefix.parse(text)
    except PrefixError as err:
        raise CidrError(f"{where}: {err}") from None
    if prefix.version == 6 and not ipv6_enabled:
        raise CidrError(
            f"{where}: {text!r} is IPv6 but the cluster is not dual-stack ({ipv6_switch})"
        )
    return prefix


def read_network(text: str) -> Prefix | None:
    """A CIDR as a cloud API reports it (host bits are dropped), or None when it is no CIDR:
    GKE also takes a bare `/14` (size only; GCP picks the range, known after deployment)."""
    try:
        return Prefix.parse(text, drop_host_bits=True)
    except PrefixError:
        return None


def uncovered(required: Prefix, covering: Iterable[Prefix]) -> list[Prefix]:
    """The parts of `required` that no CIDR in `covering` contains (empty when covered)."""
    return list((PrefixSet([required]) - PrefixSet(covering)).prefixes())


# Ranges named in the merged-default-route error; more are counted.
_NAMED_RANGES = 4


def _default_route_error(everything: Prefix, parsed: list[tuple[Range, Prefix]]) -> CidrError:
    """Ranges that exempt every destination: one `/0`, or ranges that merge into it
    (`0.0.0.0/1` and `128.0.0.0/1`): named are the widest ones of that family, those no
    other range contains."""
    widest: list[tuple[Range, Prefix]] = []
    family = sorted(
        (pair for pair in parsed if pair[1].version == everything.version),
        key=lambda pair: pair[1],
    )
    for item, prefix in family:
        # Sorted by address, wider first: an entry past the last widest one's end is widest.
        if not widest or prefix.first > widest[-1][1].last:
            widest.append((item, prefix))
    if len(widest) == 1:
        item, _ = widest[0]
        return CidrError(
            f"{describe(item)}: {known_cidr(item)!r} would exempt every destination "
            "from masquerading"
        )
    shown = widest[:_NAMED_RANGES]
    more = f" (+{len(widest) - len(shown)} more)" if len(widest) > len(shown) else ""
    names = ", ".join(describe(item) for item, _ in shown) + more
    cidrs = ", ".join(repr(known_cidr(item)) for item, _ in shown)
    return CidrError(
        f"{names}: {cidrs} merge into {everything}, which would exempt every destination"
        " from masquerading"
    )


def parse_ranges(
    ranges: Sequence[Range], *, ipv6_enabled: bool, ipv6_switch: str = "enable_ipv6"
) -> list[Prefix]:
    """Each range parsed, and the list refused if it exempts every destination of a family
    (the agent's own verdict); CidrError names the range."""
    prefixes = [
        parse_cidr(
            known_cidr(r), where=describe(r), ipv6_enabled=ipv6_enabled, ipv6_switch=ipv6_switch
        )
        for r in ranges
    ]
    everything = exempting_everything(tuple(prefixes), ())
    if everything is not None:
        raise _default_route_error(everything, list(zip(ranges, prefixes, strict=True)))
    return prefixes


def derive_non_masquerade_cidrs(
    ranges: Sequence[Range],
    *,
    ipv6_enabled: bool,
    cidr_limit: int,
    ipv6_switch: str = "enable_ipv6",
    limit_name: str = "cidr_limit",
) -> tuple[str, ...]:
    """The agent's nonMasqueradeCIDRs for these resolved ranges: merged (overlapping and
    adjacent blocks collapsed), IPv4 then IPv6, each ascending; CidrError names the range."""
    prefixes = parse_ranges(ranges, ipv6_enabled=ipv6_enabled, ipv6_switch=ipv6_switch)
    result = PrefixSet(prefixes).cidrs()
    if len(result) > cidr_limit:
        raise CidrError(
            f"{limit_name}: the ranges merge into {len(result)} nonMasqueradeCIDRs, "
            f"{len(result) - cidr_limit} more than {limit_name} {cidr_limit} "
            f"(raise {limit_name} or use fewer, wider ranges)"
        )
    return result
