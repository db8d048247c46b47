"""The plan's summary and digests: bounded lines that still tell two lists apart."""

from ip_masq_agent.config import parse_config
from ip_masq_agent.rules import DesiredRules, Masquerade, plan_rules
from ip_masq_agent.sync.plan_report import rules_summary


def test_the_rules_summary_is_bounded_and_tells_lists_apart() -> None:
    def desired(cidrs: list[str]) -> DesiredRules:
        # Through the parser: the test holds whatever type the config keeps its CIDRs in.
        text = f"nonMasqueradeCIDRs: [{', '.join(cidrs)}]\ncidrLimit: {len(cidrs)}\n"
        config = parse_config(text, enable_ipv6=True, source="test")
        return plan_rules(config, chain="IP-MASQ-AGENT", enable_ipv6=True, masquerade=Masquerade())

    many = [f"11.{i // 256}.{i % 256}.0/24" for i in range(10_000)]
    line = rules_summary(desired(many))
    assert line.startswith(
        "ipv4: 10001 CIDRs 169.254.0.0/16,11.0.0.0/24,11.0.1.0/24,11.0.2.0/24,+9997 more sha256="
    )
    assert "; ipv6: 1 CIDRs fe80::/10 sha256=" in line
    assert len(line) < 200
    # One CIDR changed at the end of the list: the named ones are the same, the digest is not.
    other = rules_summary(desired([*many[:-1], "12.0.0.0/24"]))
    assert other != line
    assert other.split(" sha256=")[0] == line.split(" sha256=")[0]
