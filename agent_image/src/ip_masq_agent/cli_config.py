"""The config and the plan as the command line's flags shape them (shared by every command)."""

from ip_masq_agent.config import AgentConfig, CidrMemo, default_config, parse_config
from ip_masq_agent.flags import Options
from ip_masq_agent.rules import DesiredRules, Masquerade, plan_rules


def plan_for(options: Options, config: AgentConfig) -> DesiredRules:
    """The rules for `config` with the flags' chain, families and masquerade options."""
    return plan_rules(
        config,
        chain=options.masq_chain,
        enable_ipv6=options.enable_ipv6,
        masquerade=Masquerade(random_fully=options.random_fully, to_ports=options.to_ports),
    )


def parse_for(
    options: Options,
    backend: str,
    source: str,
    text: str,
    cidr_memo: CidrMemo | None = None,
) -> AgentConfig:
    """`text` parsed with the flags' IPv6 and reserved-ranges options, within the limit of
    `backend`, the one the agent runs (`--backend auto` already resolved)."""
    return parse_config(
        text,
        enable_ipv6=options.enable_ipv6,
        nomasq_all_reserved_ranges=options.nomasq_all_reserved_ranges,
        source=source,
        cidr_memo=cidr_memo,
        backend=backend,
    )


def defaults_for(options: Options) -> AgentConfig:
    """The config without a file: upstream's defaults, with the reserved ranges if flagged."""
    return default_config(nomasq_all_reserved_ranges=options.nomasq_all_reserved_ranges)
