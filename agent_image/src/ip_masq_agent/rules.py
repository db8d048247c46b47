"""What the kernel should hold, per address family: the backend-neutral rule plan."""

from dataclasses import dataclass
from typing import Final, Literal

from ip_masq_agent.config import AgentConfig
from ip_masq_agent.prefixes import Prefix, PrefixSet

Family = Literal["ipv4", "ipv6"]
FAMILIES: Final[tuple[Family, ...]] = ("ipv4", "ipv6")

LINK_LOCAL: Final[dict[Family, Prefix]] = {
    "ipv4": Prefix.parse("169.254.0.0/16"),
    "ipv6": Prefix.parse("fe80::/10"),
}


@dataclass(frozen=True)
class PortRange:
    """One interval of `--to-ports`, inclusive on both ends."""

    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Masquerade:
    """How masqueraded traffic is SNATed: `--random-fully` as asked, and `--to-ports` intervals."""

    random_fully: bool = True
    to_ports: tuple[PortRange, ...] = ()


@dataclass(frozen=True)
class FamilyRules:
    """Destinations that keep the pod source (in rule order), for one address family.

    Without exceptions: link-local, then the config's CIDRs as written (upstream's rules).
    With exceptions: link-local, then the disjoint CIDRs of the longest-prefix answer.
    """

    family: Family
    non_masquerade: tuple[Prefix, ...]
    masquerade: Masquerade


@dataclass(frozen=True)
class DesiredRules:
    """Everything the agent wants in the kernel; backends render and apply it atomically."""

    chain: str
    families: tuple[FamilyRules, ...]

    def family(self, family: Family) -> FamilyRules | None:
        return next((rules for rules in self.families if rules.family == family), None)


def plan_rules(
    config: AgentConfig,
    *,
    chain: str,
    enable_ipv6: bool,
    masquerade: Masquerade,
) -> DesiredRules:
    """Upstream's order: link-local first (unless masqueraded), then the config's CIDRs.

    A family with forceMasqueradeCIDRs gets, in place of its CIDRs, the destinations whose
    most specific matching CIDR across both lists is a kept one, as disjoint CIDRs: no rule
    order can then change the answer, and each backend just lists them. A family without
    exceptions keeps its CIDRs as written, so its rules stay byte-identical to upstream's.
    """
    families: list[FamilyRules] = []
    for family in FAMILIES if enable_ipv6 else ("ipv4",):
        version = 4 if family == "ipv4" else 6
        masq_link_local = config.masq_link_local if version == 4 else config.masq_link_local_ipv6
        link_local = () if masq_link_local else (LINK_LOCAL[family],)
        cidrs = tuple(c for c in config.non_masquerade_cidrs if c.version == version)
        excepted = tuple(c for c in config.force_masquerade_cidrs if c.version == version)
        if excepted:
            cidrs = PrefixSet.non_masquerade(cidrs, excepted).prefixes(version)
        families.append(FamilyRules(family, link_local + cidrs, masquerade))
    return DesiredRules(chain=chain, families=tuple(families))
