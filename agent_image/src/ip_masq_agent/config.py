"""The agent's config document: upstream-compatible parsing and all-or-nothing validation."""

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeAlias

import yaml

from ip_masq_agent.duration import parse_go_duration
from ip_masq_agent.memo import UseMemo
from ip_masq_agent.prefix_decision import planned_cidr_count
from ip_masq_agent.quoting import clipped, quoted
from ip_masq_agent.yaml_resolve import SlashScalarsAreStrings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

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
DEFAULT_CIDR_LIMIT: Final = 64
DEFAULT_RESYNC_SECONDS: Final = 60.0
# A ConfigMap holds at most 1 MiB of data. Anything larger is not a ConfigMap the agent should
# trust, and pure-Python YAML would spend many seconds on it while the sync loop waits.
MAX_CONFIG_BYTES: Final = 1024 * 1024
# What a document may build, whatever its size in bytes: a few hundred bytes of nested YAML
# aliases expand to hundreds of millions of nodes, and a 1 MiB list of one-character items
# costs PyYAML ~150 MiB. 50,000 nodes hold a list of 10,000 CIDRs five times over.
MAX_YAML_NODES: Final = 50_000
# Deeper than any config; the pure loader's own recursion gives out a little further down.
MAX_YAML_DEPTH: Final = 200
# The most destination CIDRs a config may plan, both families together, exceptions expanded
# (an exception splits its kept CIDR into up to ~128): one rule or set element each. The
# agent holds 10,000 IPv4 + 10,000 IPv6 under the DaemonSet's 96Mi on every backend, change
# after change; the README's "Reliability and security" gives the measured figures.
MAX_PLANNED_CIDRS: Final = 20_000

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


_CIDR_SHAPE: Final = re.compile(r"[0-9A-Fa-f.:]{2,45}/[0-9]{1,3}")


class ConfigError(ValueError):
    """A config document that must be rejected as a whole; the message is one line."""


@dataclass(frozen=True)
class AgentConfig:
    """A validated config: every CIDR parsed, aligned and within the limit."""

    non_masquerade_cidrs: tuple[Network, ...]
    # Masqueraded although inside a kept range; the most specific CIDR of both lists decides.
    force_masquerade_cidrs: tuple[Network, ...] = ()
    cidr_limit: int = DEFAULT_CIDR_LIMIT
    masq_link_local: bool = False
    masq_link_local_ipv6: bool = False
    resync_interval: float = DEFAULT_RESYNC_SECONDS
    warnings: tuple[str, ...] = field(default=(), compare=False)


def default_config(*, nomasq_all_reserved_ranges: bool = False) -> AgentConfig:
    """The config the agent uses when no file exists (upstream's defaults)."""
    cidrs = DEFAULT_NON_MASQUERADE_CIDRS + (RESERVED_RANGES if nomasq_all_reserved_ranges else ())
    return AgentConfig(non_masquerade_cidrs=tuple(ipaddress.ip_network(c) for c in cidrs))


CidrMemo: TypeAlias = UseMemo[str, Network | str]


def _network(text: str) -> Network | str:
    """`text` as a network, or what is wrong with it (a message to prefix with its place)."""
    # Only address characters and one "/prefix": nothing else can reach a rule payload.
    if not _CIDR_SHAPE.fullmatch(text):
        return f"{quoted(text)} is not a CIDR (want e.g. 10.0.0.0/8)"
    address, _ = text.split("/", 1)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"{quoted(text)} is not a CIDR (want e.g. 10.0.0.0/8)"
    if network.network_address != ipaddress.ip_address(address):
        return f"{quoted(text)} has host bits set (the network is {network.with_prefixlen})"
    return network


def new_cidr_memo() -> CidrMemo:
    """What `parse_config` memoises CIDRs in, one per agent: an edit of a 10,000-CIDR list
    re-parses only the changed entries (ipaddress takes ~20 µs per CIDR), and the networks
    of unchanged ones are shared by the old and the new config (they are immutable)."""
    return UseMemo(_network)


def parse_cidr(
    text: str,
    *,
    where: str,
    enable_ipv6: bool,
    network_of: Callable[[str], Network | str] = _network,
) -> Network:
    """Parse one CIDR strictly: no host bits, no IPv6 unless enabled, nothing but a CIDR."""
    network = network_of(text)
    if isinstance(network, str):
        raise ConfigError(f"{where}: {network}")
    if network.version == 6 and not enable_ipv6:
        raise ConfigError(
            f"{where}: {quoted(text)} is IPv6 but the agent runs without --enable-ipv6"
        )
    return network


class _Yaml11Booleans:
    """YAML 1.1's one-letter booleans, which upstream's YAML library (go-yaml v2) resolves too.

    PyYAML knows yes/no/on/off/true/false but not y/Y/n/N; `masqLinkLocal: y` is true upstream.
    """

    bool_values: ClassVar[dict[str, bool]] = {
        **yaml.SafeLoader.bool_values,
        "y": True,
        "n": False,
    }


class PureYamlLoader(SlashScalarsAreStrings, _Yaml11Booleans, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader: the reference for acceptance and error messages."""


_C_SAFE_LOADER: type | None = getattr(yaml, "CSafeLoader", None)
LibYamlLoader: type | None = (
    None
    if _C_SAFE_LOADER is None
    else type("LibYamlLoader", (SlashScalarsAreStrings, _Yaml11Booleans, _C_SAFE_LOADER), {})
)
for _loader in (PureYamlLoader, LibYamlLoader):
    if _loader is not None:
        _loader.add_implicit_resolver(  # type: ignore[attr-defined]
            "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
        )
# libyaml's composer recurses in C without Python's recursion check: a few thousand levels of
# `[` crash the process. Deeper documents go to the pure loader, which refuses them cleanly.
_LIBYAML_MAX_DEPTH: Final = 100
# The characters configs are written in. libyaml and PyYAML disagree at the edges (a BOM past
# the start, NEL line breaks, tabs, tags, block scalars ending in a comment); a document with
# any other character goes to the reference loader, at pure-Python speed.
_LIBYAML_TEXT: Final = re.compile(r"[A-Za-z0-9 \n.:/,_\-\[\]{}'\"#]*")


def yaml_loader_for(text: str) -> type:
    """libyaml when it reads `text` exactly as the pure loader would, else the pure loader."""
    try:
        return check_yaml_shape(text, "yaml")
    except ConfigError:
        return PureYamlLoader  # refused anyway; the reference loader says how it reads


def load_yaml(text: str, loader: type | None = None) -> Any:
    """YAML 1.1 as upstream reads it: libyaml's speed where it is safe, else pure Python.

    Acceptance and error messages are always the pure loader's: anything libyaml might read
    differently (a parse error, non-printable characters, deep nesting, aliases, directives)
    is loaded by the pure loader. `loader` forces one (tests compare the two).
    """
    return yaml.load(text, Loader=loader or yaml_loader_for(text))


def check_yaml_shape(text: str, source: str, loader: type | None = None) -> type:
    """Refuse anchors and aliases, and more values or nesting than any config has.

    Returns the loader to read `text` with (the one given, else libyaml where it reads it
    exactly as the pure loader would): one walk of the events answers both.

    Walks the parser's events (constant memory, stops at the first excess) before anything
    is built: libyaml's event parser for text in the characters it reads as the pure loader
    does (fast), else the pure one. No ConfigMap needs an alias, and refusing them is the only
    way an expanded alias bomb is never built, iterated or quoted. A syntax error ends the walk
    quietly: the load that follows reports it in the reference loader's words.
    """
    forced = loader
    if loader is None:
        fast = LibYamlLoader is not None and _LIBYAML_TEXT.fullmatch(text)
        loader = LibYamlLoader if fast else PureYamlLoader
    nodes = depth = deepest = documents = 0
    plain = True  # one document, no directives: libyaml reads it as the pure loader does
    try:
        for event in yaml.parse(text, Loader=loader):  # type: ignore[arg-type]
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor is not None:
                what = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
                line = event.start_mark.line + 1 if event.start_mark is not None else "?"
                raise ConfigError(
                    f"{source}: YAML {what}{clipped(str(anchor), 40)} at line {line}:"
                    " anchors and aliases are not accepted in a config; write the values out"
                )
            if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
                nodes += 1
                if nodes > MAX_YAML_NODES:
                    raise ConfigError(
                        f"{source}: more than {MAX_YAML_NODES} YAML values;"
                        " no config needs that many"
                    )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                deepest = max(deepest, depth)
                if depth > MAX_YAML_DEPTH:
                    raise ConfigError(f"{source}: nested too deeply to be a config")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                plain = plain and documents == 1 and event.version is None and not event.tags
    except yaml.YAMLError:
        # The pure loader produces the (reference) error message.
        return forced or PureYamlLoader
    if forced is not None:
        return forced
    fast_loader = LibYamlLoader
    if fast_loader is not None and loader is fast_loader and plain:
        return fast_loader if deepest <= _LIBYAML_MAX_DEPTH else PureYamlLoader
    return PureYamlLoader


def _load_document(text: str, source: str, loader: type | None = None) -> Mapping[str, Any]:
    is_json = text.lstrip().startswith("{")
    if not is_json:
        loader = check_yaml_shape(text, source, loader)
    try:
        document = json.loads(text) if is_json else load_yaml(text, loader)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{source}: not valid JSON/YAML: {clipped(first_line)}") from None
    except RecursionError:
        # `[[[[...` a hundred thousand deep fits in a ConfigMap; no config nests like that.
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    except ValueError as err:
        # Python's own limits, e.g. an integer of more than 4300 digits.
        raise ConfigError(f"{source}: not a usable document: {clipped(str(err))}") from None
    if document is None:
        raise ConfigError(f"{source}: empty config document (delete the file to use defaults)")
    if not isinstance(document, dict):
        raise ConfigError(
            f"{source}: config must be a mapping of keys, got {type(document).__name__}"
        )
    if not is_json:
        # Upstream turns YAML into JSON through a Go map, which sorts the keys; the last of
        # two spellings of one key (`nonMasqueradeCIDRs`, `NONMASQUERADECIDRS`) wins in that
        # order. JSON documents reach its decoder as written, so theirs keep document order.
        document = dict(sorted(document.items(), key=lambda item: str(item[0])))
    return document


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
    network_of: Callable[[str], Network | str],
) -> tuple[Network, ...]:
    if entries is None:
        entries = []
    _expect(entries, list, key, source)
    parsed = []
    for index, entry in enumerate(entries):
        where = f"{source}: {key}[{index}]"
        if not isinstance(entry, str):
            raise ConfigError(f"{where} must be a string, got {quoted(entry)}")
        parsed.append(
            parse_cidr(entry, where=where, enable_ipv6=enable_ipv6, network_of=network_of)
        )
    return tuple(parsed)


def _reject_cidrs_in_both(
    kept: tuple[Network, ...], forced: tuple[Network, ...], source: str, *, defaults: bool
) -> None:
    # Equal prefixes leave the longest-prefix rule without an answer: the user must choose.
    for index, cidr in enumerate(forced):
        if cidr in kept:
            where = (
                "the default nonMasqueradeCIDRs"
                if defaults
                else f"nonMasqueradeCIDRs[{kept.index(cidr)}]"
            )
            raise ConfigError(
                f"{source}: forceMasqueradeCIDRs[{index}]: {cidr.with_prefixlen} is also in "
                f"{where}; a CIDR is either kept or masqueraded, remove it from one list"
            )


def _ineffective_exceptions(
    kept: tuple[Network, ...], forced: tuple[Network, ...], source: str
) -> list[str]:
    """Exceptions inside no kept CIDR: masqueraded anyway, so most likely a mistake."""
    kept_set = set(kept)
    # At most 128 look-ups per exception, whatever the size of the lists.
    return [
        f"{source}: forceMasqueradeCIDRs[{index}] {cidr.with_prefixlen} lies inside no "
        "nonMasqueradeCIDRs entry, so it changes nothing (it is masqueraded anyway)"
        for index, cidr in enumerate(forced)
        if not any(cidr.supernet(new_prefix=p) in kept_set for p in range(cidr.prefixlen))
    ]


def _reject_large_plans(
    kept: tuple[Network, ...], forced: tuple[Network, ...], source: str
) -> None:
    """Refuse a config planning more CIDRs than MAX_PLANNED_CIDRS, exceptions expanded."""
    counts = [
        planned_cidr_count(
            [c for c in kept if c.version == version], [c for c in forced if c.version == version]
        )
        for version in (4, 6)
    ]
    planned = sum(counts)
    if planned <= MAX_PLANNED_CIDRS:
        return
    if forced:
        raise ConfigError(
            f"{source}: forceMasqueradeCIDRs: its {len(forced)} exceptions split "
            f"nonMasqueradeCIDRs into {planned} CIDRs (one rule each), more than the agent's "
            f"limit of {MAX_PLANNED_CIDRS}; use fewer or wider exceptions"
        )
    raise ConfigError(
        f"{source}: nonMasqueradeCIDRs has {planned} CIDRs, more than the agent's limit of "
        f"{MAX_PLANNED_CIDRS} (what fits its memory limit); merge ranges into wider ones"
    )


def parse_config(
    text: str,
    *,
    enable_ipv6: bool,
    nomasq_all_reserved_ranges: bool = False,
    source: str = "config",
    yaml_loader: type | None = None,
    cidr_memo: CidrMemo | None = None,
) -> AgentConfig:
    """Parse a config document on top of the defaults; raise ConfigError naming the bad value.

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
    network_of: Callable[[str], Network | str],
) -> AgentConfig:
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source}: {size} bytes, more than a ConfigMap can hold ({MAX_CONFIG_BYTES} bytes)"
        )
    document = _load_document(text, source, yaml_loader)
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
    forced: tuple[Network, ...] = ()
    if "forceMasqueradeCIDRs" in values:
        forced = _parse_cidr_list(
            values["forceMasqueradeCIDRs"], "forceMasqueradeCIDRs", source, enable_ipv6, network_of
        )
    _reject_cidrs_in_both(cidrs, forced, source, defaults="nonMasqueradeCIDRs" not in values)

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
    _reject_large_plans(cidrs, forced, source)
    warnings.extend(_ineffective_exceptions(cidrs, forced, source))
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
