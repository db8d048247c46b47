"""Upstream-identical iptables-restore payloads and the POSTROUTING jump rule, as pure text."""

from decimal import Decimal
from typing import Final

from ip_masq_agent.contract import PORT_PROTOCOLS
from ip_masq_agent.rules import FamilyRules

NON_MASQ_COMMENT: Final = "ip-masq-agent: local traffic is not subject to MASQUERADE"
MASQ_COMMENT: Final = (
    "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)"
)


def format_probability(probability: float) -> str:
    """Shortest decimal that reads back as the same float, never in exponent form.

    This is Go's strconv.FormatFloat(p, 'f', -1, 64), which upstream uses: `repr` gives the
    shortest round-tripping digits, Decimal re-prints them positionally without rounding.
    """
    return format(Decimal(repr(probability)), "f")


def render_chain_payload(rules: FamilyRules, *, chain: str, random_fully: bool) -> str:
    """Upstream's iptables-restore input for one family (`random_fully`: asked and supported)."""
    lines = ["*nat", f":{chain} - [0:0]"]
    # iptables takes the first matching rule, so the RETURNs must give the longest-prefix
    # answer. With forceMasqueradeCIDRs the plan's CIDRs are disjoint: a destination matches
    # at most one of them, and it does exactly when its most specific CIDR across both lists
    # is a kept one; any other destination reaches MASQUERADE. Link-local stays first, as
    # upstream's, and decides on its own flag before any exception.
    for network in rules.non_masquerade:
        lines.append(
            f'-A {chain} -m comment --comment "{NON_MASQ_COMMENT}"'
            f" -d {network.with_prefixlen} -j RETURN"
        )
    masquerade = f'-A {chain} -m comment --comment "{MASQ_COMMENT}" -j MASQUERADE'
    if random_fully:
        masquerade += " --random-fully"
    ports = rules.masquerade.to_ports
    for protocol in PORT_PROTOCOLS if ports else ():
        remaining = sum(port_range.size for port_range in ports)
        for port_range in ports:
            line = f"{masquerade} -p {protocol}"
            if port_range.size != remaining:
                probability = format_probability(port_range.size / remaining)
                line += f" -m statistic --mode random --probability {probability}"
            span = str(port_range.first)
            if port_range.last != port_range.first:
                span += f"-{port_range.last}"
            lines.append(f"{line} --to-ports {span}")
            remaining -= port_range.size
    lines.append(masquerade)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def jump_comment(chain: str) -> str:
    """Upstream's comment on the POSTROUTING jump; it names the chain (`--masq-chain`)."""
    return (
        "ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic"
        f" to our custom {chain} chain"
    )


def jump_rule_line(chain: str) -> str:
    """The same rule as iptables-save prints it."""
    return (
        f'-A POSTROUTING -m comment --comment "{jump_comment(chain)}"'
        f" -m addrtype ! --dst-type LOCAL -j {chain}"
    )
