"""The agent's config document: upstream-compatible parsing and all-or-nothing validation.

Reading the text is `config_yaml`'s, the checks across both CIDR lists `config_bounds`'s, each
CIDR's syntax `prefixes.Prefix.parse`'s; this module holds the schema and puts them together.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from ip_masq_agent.config_bounds import (
    MAX_CONFIG_BYTES,
    MAX_PLANNED_CIDRS,
    MAX_PLANNED_CIDRS_NFTABLES,
    exempting_everything_verdict,
    ineffective_exceptions,
    limit_for,
    reject_cidrs_in_both,
    reject_large_plans,
)
from ip_masq_agent.config_error import ConfigError
from ip_masq_agent.config_yaml import load_document
from ip_masq_agent.contract import BACKEND_AUTO, DEFAULT_CIDR_LIMIT, DEFAULT_RESYNC_SECONDS
from ip_masq_agent.duration import parse_go_duration
from ip_masq_agent.memo import UseMemo
from ip_masq_agent.prefixes import Prefix, PrefixError
from ip_masq_agent.quoting import quoted

DEFAULT_NON_MASQUERADE_CIDRS: Final = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
# Appended to the defaults by --nomasq-all-reserved-ranges, in upstream's order.
RESERVED_RANGES: Final = (
    "100.64.0.0/10",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
)

# Upstream decodes with Go's encoding/json, which matches keys case-insensitively.
_KEYS: Final = {
    "nonmasqueradecidrs": "nonMasqueradeCIDRs",
    # Not upstream's (its PR #206 spelling): exceptions masqueraded inside kept ranges.
    "forcemasqueradecidrs": "forceMasqueradeCIDRs",
    "cidrlimit": "cidrLimit",
    "masqlinklocal": "masqLinkLocal",
    "masqlinklocalipv6": "masqLinkLocalIPv6",
    "resyncinterval": "resyncInterval",
}


@dataclass(frozen=True)
class AgentConfig:
    """A validated config: every CIDR parsed, aligned and within the limit."""

    non_masquerade_cidrs: tuple[Prefix, ...]
    # Masqueraded although inside a kept range; the most specific CIDR of both lists decides.
    force_masquerade_cidrs: tuple[Prefix, ...] = ()
    cidr_limit: int = DEFAULT_CIDR_LIMIT
    masq_link_local: bool = False
    masq_link_local_ipv6: bool = False
    resync_interval: float = DEFAULT_RESYNC_SECONDS
    warnings: tuple[str, ...] = field(default=(), compare=False)


def default_config(*, nomasq_all_reserved_ranges: bool = False) -> AgentConfig:
    """The config the agent uses when no file exists (upstream's defaults)."""
    cidrs = DEFAULT_NON_MASQUERADE_CIDRS + (RESERVED_RANGES if nomasq_all_reserved_ranges else ())
    return AgentConfig(non_masquerade_cidrs=tuple(map(Prefix.parse, cidrs)))


CidrMemo: TypeAlias = UseMemo[str, Prefix | str]


def _network(text: str) -> Prefix | str:
    """`text` as a prefix, or what is wrong with it (a message to prefix with its place)."""
    try:
        return Prefix.parse(text)
    except PrefixError as err:
        return str(err)


def new_cidr_memo() -> CidrMemo:
    """What `parse_config` memoises CIDRs in, one per agent: an edit of a 10,000-CIDR list
    re-parses only the changed entries (a parse takes ~6 µs per CIDR), and the networks
    of unchanged ones are shared by the old and the new config (they are immutable)."""
    return UseMemo(_network)


def parse_cidr(
    text: str,
    *,
    where: str,
    enable_ipv6: bool,
    network_of: Callable[[str], Prefix | str] = _network,
) -> Prefix:
    """Parse one CIDR strictly: no host bits, no IPv6 unless enabled, nothing but a CIDR."""
    network = network_of(text)
    if isinstance(network, str):
        raise ConfigError(f"{where}: {network}")
    if network.version == 6 and not enable_ipv6:
        raise ConfigError(
            f"{where}: {quoted(text)} is IPv6 but the agent runs without --enable-ipv6"
        )
    return network


def _expect(value: Any, kind: type, key: str, source: str) -> Any:
    # bool is an int in Python; Go's json would refuse it for an int field and vice versa.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = {bool: "true or false", int: "an integer", str: "a string", list: "a list"}[kind]
        raise ConfigError(f"{source}: {key} must be {want}, got {quoted(value)}")
    return value


def _parse_cidr_list(
    entries: Any,
    key: str,
    source: str,
    enable_ipv6: bool,
    network_of: Callable[[str], Prefix | str],
) -> tuple[Prefix, ...]:
    if entries is None:
        entries = []
    _expect(entries, list, key, source)
    parsed = []
    for index, entry in enumerate(entries):
        network = network_of(entry) if isinstance(entry, str) else None
        if isinstance(network, Prefix) and (enable_ipv6 or network.version == 4):
            parsed.append(network)  # the common case, without naming its place 10,000 times
            continue
        where = f"{source}: {key}[{index}]"
        if not isinstance(entry, str):
            raise ConfigError(f"{where} must be a string, got {quoted(entry)}")
        parse_cidr(entry, where=where, enable_ipv6=enable_ipv6, network_of=network_of)  # raises
    return tuple(parsed)


def parse_config(
    text: str,
    *,
    enable_ipv6: bool,
    nomasq_all_reserved_ranges: bool = False,
    source: str = "config",
    yaml_loader: type | None = None,
    cidr_memo: CidrMemo | None = None,
    refuse_exempting_everything: bool = False,
    backend: str = BACKEND_AUTO,
) -> AgentConfig:
    """Parse a config document on top of the defaults; raise ConfigError naming the bad value.

    `backend` (a `--backend` name) sets how many CIDRs the config may plan (`limit_for`).

    A list exempting every destination of a family is upstream's to accept (the agent warns);
    `refuse_exempting_everything` makes it an error, as the component and the policy want.

    `yaml_loader` forces one YAML loader (tests run both over the same documents);
    `cidr_memo` (from `new_cidr_memo`) is the agent's, kept from one parse to the next.
    """
    parse = functools.partial(
        _parse_config,
        text,
        enable_ipv6=enable_ipv6,
        nomasq_all_reserved_ranges=nomasq_all_reserved_ranges,
        source=source,
        yaml_loader=yaml_loader,
        refuse_exempting_everything=refuse_exempting_everything,
        backend=backend,
    )
    if cidr_memo is None:
        return parse(network_of=_network)
    with cidr_memo.use():
        return parse(network_of=cidr_memo)


def _parse_config(
    text: str,
    *,
    enable_ipv6: bool,
    nomasq_all_reserved_ranges: bool,
    source: str,
    yaml_loader: type | None,
    refuse_exempting_everything: bool,
    backend: str,
    network_of: Callable[[str], Prefix | str],
) -> AgentConfig:
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source}: {size} bytes, more than a ConfigMap can hold ({MAX_CONFIG_BYTES} bytes)"
        )
    document = load_document(text, source, yaml_loader)
    base = default_config(nomasq_all_reserved_ranges=nomasq_all_reserved_ranges)
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for raw_key, value in document.items():
        key = _KEYS.get(str(raw_key).lower())
        if key is None:
            warnings.append(f"{source}: ignoring unknown key {quoted(raw_key)}")
            continue
        values[key] = value

    cidrs = base.non_masquerade_cidrs
    if "nonMasqueradeCIDRs" in values:
        cidrs = _parse_cidr_list(
            values["nonMasqueradeCIDRs"], "nonMasqueradeCIDRs", source, enable_ipv6, network_of
        )
    forced: tuple[Prefix, ...] = ()
    if "forceMasqueradeCIDRs" in values:
        forced = _parse_cidr_list(
            values["forceMasqueradeCIDRs"], "forceMasqueradeCIDRs", source, enable_ipv6, network_of
        )
    reject_cidrs_in_both(cidrs, forced, source, defaults="nonMasqueradeCIDRs" not in values)

    cidr_limit = _expect(values.get("cidrLimit", base.cidr_limit), int, "cidrLimit", source)
    if cidr_limit < 0:
        raise ConfigError(f"{source}: cidrLimit must not be negative, got {cidr_limit}")
    if len(cidrs) > cidr_limit and not forced:
        raise ConfigError(
            f"{source}: nonMasqueradeCIDRs has {len(cidrs)} CIDRs, more than cidrLimit {cidr_limit}"
        )
    if len(cidrs) + len(forced) > cidr_limit:
        raise ConfigError(
            f"{source}: nonMasqueradeCIDRs and forceMasqueradeCIDRs have {len(cidrs)} + "
            f"{len(forced)} CIDRs, more than cidrLimit {cidr_limit}"
        )
    reject_large_plans(cidrs, forced, source, backend)
    everything = exempting_everything_verdict(cidrs, forced, source)
    if everything is not None:
        if refuse_exempting_everything:
            raise ConfigError(everything)
        warnings.append(everything)
    warnings.extend(ineffective_exceptions(cidrs, forced, source))
    masq_link_local = _expect(
        values.get("masqLinkLocal", base.masq_link_local), bool, "masqLinkLocal", source
    )
    masq_link_local_ipv6 = _expect(
        values.get("masqLinkLocalIPv6", base.masq_link_local_ipv6),
        bool,
        "masqLinkLocalIPv6",
        source,
    )
    resync = base.resync_interval
    if "resyncInterval" in values:
        raw = _expect(values["resyncInterval"], str, "resyncInterval", source)
        try:
            resync = parse_go_duration(raw)
        except ValueError:
            raise ConfigError(
                f"{source}: resyncInterval {quoted(raw)} is not a duration"
                " (want e.g. 60s, 5m, 1h30m)"
            ) from None
        if resync <= 0:
            raise ConfigError(f"{source}: resyncInterval must be positive, got {quoted(raw)}")
    return AgentConfig(
        non_masquerade_cidrs=cidrs,
        force_masquerade_cidrs=forced,
        cidr_limit=cidr_limit,
        masq_link_local=masq_link_local,
        masq_link_local_ipv6=masq_link_local_ipv6,
        resync_interval=resync,
        warnings=tuple(warnings),
    )


# Re-exported: the bounds and the error are part of what a caller of parse_config handles.
__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_PLANNED_CIDRS",
    "MAX_PLANNED_CIDRS_NFTABLES",
    "AgentConfig",
    "CidrMemo",
    "ConfigError",
    "default_config",
    "limit_for",
    "new_cidr_memo",
    "parse_cidr",
    "parse_config",
]
