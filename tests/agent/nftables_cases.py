"""Golden configs for the nftables payload, shared by the golden test and the `nft -c` check."""

from dataclasses import dataclass, field
from pathlib import Path

from ip_masq_agent.config import parse_config
from ip_masq_agent.rules import DesiredRules, Masquerade, PortRange, plan_rules

GOLDEN_DIR = Path(__file__).parent / "golden" / "nftables"


@dataclass(frozen=True)
class Case:
    id: str
    config: str
    enable_ipv6: bool = False
    masquerade: Masquerade = field(default_factory=Masquerade)

    def desired(self) -> DesiredRules:
        config = parse_config(self.config, enable_ipv6=self.enable_ipv6, source=self.id)
        return plan_rules(
            config, chain="IP-MASQ-AGENT", enable_ipv6=self.enable_ipv6, masquerade=self.masquerade
        )

    @property
    def golden(self) -> Path:
        return GOLDEN_DIR / f"{self.id}.nft"


CASES = (
    Case("defaults", "{}"),
    Case(
        "dual-stack",
        "nonMasqueradeCIDRs: [10.0.0.0/8, 192.168.0.0/16, fd00::/8]\n",
        enable_ipv6=True,
    ),
    Case(
        "masq-link-local-both",
        "nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\n"
        "masqLinkLocal: true\nmasqLinkLocalIPv6: true\n",
        enable_ipv6=True,
    ),
    Case(
        "overlapping-and-adjacent",
        "nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.0.0/16, 10.1.2.0/24, 192.168.0.0/17,"
        " 192.168.128.0/17, 169.254.169.254/32, 172.16.0.0/12]\n",
    ),
    Case(
        "adjacent-unaligned-becomes-a-range",
        "nonMasqueradeCIDRs: [10.0.1.0/24, 10.0.2.0/24, 10.0.3.0/24, fd00:0:0:1::/64,"
        " fd00:0:0:2::/64]\n",
        enable_ipv6=True,
    ),
    Case(
        # Upstream's PR #68 lists, and an IPv6 exception with a kept range inside it.
        "force-masquerade-overlapping-dual-stack",
        "nonMasqueradeCIDRs: [10.0.0.0/8, 10.0.0.0/20, 172.16.0.0/12, fd00::/8,"
        " fd00:1:5::/48]\n"
        "forceMasqueradeCIDRs: [10.0.0.0/16, 10.0.0.0/24, fd00:1::/32]\n",
        enable_ipv6=True,
    ),
    Case("empty-v4-no-link-local", "nonMasqueradeCIDRs: []\nmasqLinkLocal: true\n"),
    Case(
        "to-ports-three-ranges-not-random",
        "{}",
        masquerade=Masquerade(
            random_fully=False,
            to_ports=(PortRange(1024, 2047), PortRange(3000, 3000), PortRange(40000, 65535)),
        ),
    ),
    Case(
        "to-ports-one-range-dual-stack",
        "nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\n",
        enable_ipv6=True,
        masquerade=Masquerade(random_fully=True, to_ports=(PortRange(32768, 60999),)),
    ),
)
