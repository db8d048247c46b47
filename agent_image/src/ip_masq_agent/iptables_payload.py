"""Upstream-identical iptables-restore payloads and the POSTROUTING jump rule, as values.

A payload is a table, the chains it declares and a sequence of commands over rule values
(iptables_rules); it is rendered once, when it is handed to the tool or printed.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ip_masq_agent.contract import PORT_PROTOCOLS
from ip_masq_agent.iptables_rules import ChainHead, Option, Rule, quote
from ip_masq_agent.rules import FamilyRules, PortRange

NON_MASQ_COMMENT: Final = "ip-masq-agent: local traffic is not subject to MASQUERADE"
MASQ_COMMENT: Final = (
    "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)"
)
NAT: Final = "nat"

# Shared by every rule of a kind: a 10,000-CIDR chain holds one object per CIDR, not five.
_COMMENT_MATCH: Final = Option("-m", ("comment",))
_NON_MASQ: Final = (_COMMENT_MATCH, Option("--comment", (quote(NON_MASQ_COMMENT),)))
_RETURN: Final = Option("-j", ("RETURN",))
_MASQ: Final = (
    _COMMENT_MATCH,
    Option("--comment", (quote(MASQ_COMMENT),)),
    Option("-j", ("MASQUERADE",)),
)
_RANDOM_FULLY: Final = Option("--random-fully")


@dataclass(frozen=True, slots=True)
class Append:
    rule: Rule

    def line(self) -> str:
        return self.rule.appended()


@dataclass(frozen=True, slots=True)
class Delete:
    rule: Rule

    def line(self) -> str:
        return self.rule.deleted()


@dataclass(frozen=True, slots=True)
class FlushChain:
    chain: str

    def line(self) -> str:
        return f"-F {self.chain}"


@dataclass(frozen=True, slots=True)
class DeleteChain:
    chain: str

    def line(self) -> str:
        return f"-X {self.chain}"


Command = Append | Delete | FlushChain | DeleteChain


@dataclass(frozen=True)
class RestorePayload:
    """One table's `iptables-restore --noflush` transaction: all of it commits, or none."""

    table: str
    chains: tuple[ChainHead, ...] = ()  # declared first: creates each, or flushes it
    rules: tuple[Rule, ...] = ()  # appended next, in order (a chain's rules)
    commands: tuple[Command, ...] = ()  # then these, in order

    def then(self, *commands: Command) -> "RestorePayload":
        """The same transaction with more commands after its own."""
        return RestorePayload(self.table, self.chains, self.rules, (*self.commands, *commands))

    def render(self) -> str:
        lines = [f"*{self.table}", *(head.declared() for head in self.chains)]
        lines += [rule.appended() for rule in self.rules]
        lines += [command.line() for command in self.commands]
        lines.append("COMMIT")
        return "\n".join(lines) + "\n"


def format_probability(probability: float) -> str:
    """Shortest decimal that reads back as the same float, never in exponent form.

    This is Go's strconv.FormatFloat(p, 'f', -1, 64), which upstream uses: `repr` gives the
    shortest round-tripping digits, Decimal re-prints them positionally without rounding.
    """
    return format(Decimal(repr(probability)), "f")


def _port_span(port_range: PortRange) -> str:
    if port_range.last == port_range.first:
        return str(port_range.first)
    return f"{port_range.first}-{port_range.last}"


def _masquerade_rules(rules: FamilyRules, chain: str, random_fully: bool) -> list[Rule]:
    masquerade = (*_MASQ, _RANDOM_FULLY) if random_fully else _MASQ
    found = []
    ports = rules.masquerade.to_ports
    for protocol in PORT_PROTOCOLS if ports else ():
        # Upstream spreads flows over the ranges: each takes its share of what is left.
        remaining = sum(port_range.size for port_range in ports)
        for port_range in ports:
            options = [*masquerade, Option("-p", (protocol,))]
            if port_range.size != remaining:
                probability = format_probability(port_range.size / remaining)
                options += [
                    Option("-m", ("statistic",)),
                    Option("--mode", ("random",)),
                    Option("--probability", (probability,)),
                ]
            options.append(Option("--to-ports", (_port_span(port_range),)))
            found.append(Rule(chain, tuple(options)))
            remaining -= port_range.size
    found.append(Rule(chain, masquerade))
    return found


def chain_rules(rules: FamilyRules, *, chain: str, random_fully: bool) -> tuple[Rule, ...]:
    """Upstream's rules of our chain for one family (`random_fully`: asked and supported)."""
    # iptables takes the first matching rule, so the RETURNs must give the longest-prefix
    # answer. With forceMasqueradeCIDRs the plan's CIDRs are disjoint: a destination matches
    # at most one of them, and it does exactly when its most specific CIDR across both lists
    # is a kept one; any other destination reaches MASQUERADE. Link-local stays first, as
    # upstream's, and decides on its own flag before any exception.
    returns = [
        Rule(chain, (*_NON_MASQ, Option("-d", (str(network),), canonical_args=True), _RETURN))
        for network in rules.non_masquerade
    ]
    return (*returns, *_masquerade_rules(rules, chain, random_fully))


def chain_payload(rules: FamilyRules, *, chain: str, random_fully: bool) -> RestorePayload:
    """Upstream's restore transaction: declaring the chain flushes it, then its rules."""
    return chain_transaction(chain, chain_rules(rules, chain=chain, random_fully=random_fully))


def chain_transaction(chain: str, rules: tuple[Rule, ...]) -> RestorePayload:
    """The chain declared (created, or flushed) and these rules appended, in one transaction."""
    return RestorePayload(NAT, (ChainHead(chain),), rules)


def render_chain_payload(rules: FamilyRules, *, chain: str, random_fully: bool) -> str:
    """Upstream's iptables-restore input for one family, as text."""
    return chain_payload(rules, chain=chain, random_fully=random_fully).render()


def jump_comment(chain: str) -> str:
    """Upstream's comment on the POSTROUTING jump; it names the chain (`--masq-chain`)."""
    return (
        "ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic"
        f" to our custom {chain} chain"
    )


def jump_rule(chain: str) -> Rule:
    """The one POSTROUTING rule entering our chain, in iptables-save's order of options."""
    return Rule(
        "POSTROUTING",
        (
            _COMMENT_MATCH,
            Option("--comment", (quote(jump_comment(chain)),)),
            Option("-m", ("addrtype",)),
            Option("--dst-type", ("LOCAL",), negated=True),
            Option("-j", (chain,)),
        ),
    )


def jump_rule_line(chain: str) -> str:
    """The same rule as iptables-save prints it."""
    return jump_rule(chain).appended()
