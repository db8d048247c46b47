"""Command-line flags in Go's flag syntax, upstream-compatible plus the agent's own."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from ip_masq_agent.contract import (
    BACKEND_AUTO,
    DEFAULT_CHAIN,
    DEFAULT_CONFIG_PATH,
    DEFAULT_HEALTH_ADDRESS,
    DEFAULT_METRICS_ADDRESS,
)
from ip_masq_agent.flag_values import (
    FlagError,
    parse_bool,
    parse_chain,
    parse_family,
    parse_health_timeout,
    parse_to_ports,
    parse_verbosity,
)
from ip_masq_agent.quoting import clipped, quoted
from ip_masq_agent.rules import Family, PortRange

Command = Literal["run", "render", "cleanup"]
COMMANDS: Final[tuple[Command, ...]] = ("run", "render", "cleanup")

# A write owed for longer than this fails /healthz: kubelet's liveness probe then restarts
# the container. Each tool run is cut at 30 s, so the default sees one stuck attempt through.
DEFAULT_HEALTH_TIMEOUT: Final = 30.0


class HelpRequestedError(Exception):
    """`-h`, `-help` or `--help`: print `usage()` and exit 0, as Go's flag package does."""


# What each command does, for `--help`.
COMMAND_HELP: Final[dict[Command, str]] = {
    "run": "sync the rules to the config, then on every change, resync and retry (default)",
    "render": "print the rule payload for the config file (defaults if missing); touches nothing",
    "cleanup": "remove every rule of ours from the node (with -stay: keep them removed)",
}


@dataclass(frozen=True)
class Options:
    """Everything the command line decides."""

    command: Command = "run"
    config_path: str = DEFAULT_CONFIG_PATH
    masq_chain: str = DEFAULT_CHAIN
    nomasq_all_reserved_ranges: bool = False
    enable_ipv6: bool = False
    random_fully: bool = True
    to_ports: tuple[PortRange, ...] = ()
    backend: str = BACKEND_AUTO
    # The defaults are the contract's (ports and loopback: why there). An empty
    # `--health-address=` turns /healthz and /readyz off; the same address as --health-address
    # serves all three paths on one port; an empty `--metrics-address=` turns /metrics off.
    health_address: str = DEFAULT_HEALTH_ADDRESS
    metrics_address: str = DEFAULT_METRICS_ADDRESS
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    once: bool = False
    stay: bool = False  # cleanup: keep running, Ready once no rule of ours is left
    family: Family | None = None
    verbosity: int = 0


@dataclass(frozen=True)
class _Flag:
    field: str | None  # Options field it sets; None for accepted-and-ignored klog flags
    boolean: bool
    convert: Callable[[str], Any] = str
    help: str = ""  # one line for `--help`


_FLAGS: Final[dict[str, _Flag]] = {
    "config": _Flag("config_path", False, help="the config file (upstream's YAML or JSON)"),
    "masq-chain": _Flag(
        "masq_chain", False, parse_chain, help="the chain (nft: table) the agent owns"
    ),
    "nomasq-all-reserved-ranges": _Flag(
        "nomasq_all_reserved_ranges",
        True,
        help="the defaults keep every reserved range, not only RFC 1918",
    ),
    "enable-ipv6": _Flag(
        "enable_ipv6", True, help="also manage IPv6 (the config may then hold IPv6 CIDRs)"
    ),
    "random-fully": _Flag("random_fully", True, help="MASQUERADE with --random-fully"),
    "to-ports": _Flag(
        "to_ports",
        False,
        parse_to_ports,
        help="MASQUERADE to these source ports, e.g. 1024-29999,32768-65535",
    ),
    "backend": _Flag("backend", False, help="how rules are written: {backends}"),
    "health-address": _Flag("health_address", False, help="/healthz and /readyz (empty: off)"),
    "metrics-address": _Flag(
        "metrics_address", False, help="/metrics (empty: off; the health address serves both)"
    ),
    "health-timeout": _Flag(
        "health_timeout",
        False,
        parse_health_timeout,
        help="a write owed longer than this fails /healthz (a Go duration)",
    ),
    "once": _Flag("once", True, help="run: sync once and exit (status 1 on failure)"),
    "stay": _Flag("stay", True, help="cleanup: keep running, Ready once no rule of ours is left"),
    "family": _Flag("family", False, parse_family, help="render: only ipv4 or ipv6"),
    "v": _Flag(
        "verbosity",
        False,
        parse_verbosity,
        help="log verbosity: 2 and up add a debug line per resync",
    ),
    # klog flags that existing DaemonSet manifests pass: accepted, logging stays on stderr.
    "logtostderr": _Flag(None, True),
    "alsologtostderr": _Flag(None, True),
    "log_dir": _Flag(None, False),
    "log_file": _Flag(None, False),
    "log_file_max_size": _Flag(None, False),
    "logtostdout": _Flag(None, True),
    "one_output": _Flag(None, True),
    "skip_headers": _Flag(None, True),
    "skip_log_headers": _Flag(None, True),
    "stderrthreshold": _Flag(None, False),
    "log_backtrace_at": _Flag(None, False),
    "vmodule": _Flag(None, False),
    "add_dir_header": _Flag(None, True),
}


def usage(backends: Sequence[str] = ()) -> str:
    """`ip-masq-agent --help`: the commands, then every flag with its default, one line each."""
    defaults = Options()
    lines = ["usage: ip-masq-agent [command] [flags]", "", "commands:"]
    lines += [f"  {name:<9}{text}" for name, text in COMMAND_HELP.items()]
    lines += ["", "flags (-flag or --flag; -flag=value, or -flag value unless boolean):"]
    ignored = []
    for name, flag in _FLAGS.items():
        if flag.field is None:
            ignored.append(f"-{name}")
            continue
        default = getattr(defaults, flag.field)
        shown = _shown_default(flag, default)
        text = flag.help.format(backends=", ".join(backends) or "see the README")
        kind = "" if flag.boolean else " value"
        lines.append(f"  {f'-{name}{kind}':<34}{text}{shown}")
    lines += ["", f"accepted for klog compatibility and ignored: {' '.join(ignored)}"]
    return "\n".join(lines) + "\n"


def _shown_default(flag: _Flag, default: Any) -> str:
    if flag.boolean:
        return " (default true)" if default else ""
    if flag.field == "health_timeout":
        return f" (default {default:g}s)"
    if flag.field == "to_ports":
        return ""  # no restriction
    if default is None or default == "":
        return ""
    return f" (default {quoted(default) if isinstance(default, str) else default})"


def parse_flags(argv: Sequence[str]) -> Options:
    """Parse argv (without the program name); an optional subcommand may come before or after flags.

    Go's flag package: `-f` and `--f` are the same; values as `--f=v` or `--f v`; boolean
    flags take a value only as `--f=false`; `--` ends the flags; `-h`/`-help` raise
    HelpRequestedError.
    """
    values: dict[str, Any] = {}
    positionals: list[str] = []
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            positionals.extend(args[index:])
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name = arg[2:] if arg.startswith("--") else arg[1:]
        if not name or name.startswith("-") or name.startswith("="):
            raise FlagError(f"bad flag syntax: {clipped(arg)}")
        name, has_value, value = name.partition("=")
        flag = _FLAGS.get(name)
        if flag is None and name in ("h", "help"):
            raise HelpRequestedError
        if flag is None:
            raise FlagError(f"flag provided but not defined: -{clipped(name)}")
        if flag.boolean:
            parsed: Any = parse_bool(value, name) if has_value else True
        else:
            if not has_value:
                if index >= len(args):
                    raise FlagError(f"flag needs an argument: -{name}")
                value = args[index]
                index += 1
            parsed = flag.convert(value)
        if flag.field is not None:
            values[flag.field] = parsed
    if len(positionals) > 1:
        raise FlagError(f"unexpected arguments: {' '.join(positionals[1:])}")
    if positionals:
        command = positionals[0]
        if command not in COMMANDS:
            raise FlagError(
                f"unknown command {quoted(command)} (want one of: {', '.join(COMMANDS)})"
            )
        values["command"] = command
    options = replace(Options(), **values)
    if options.family is not None and options.command != "render":
        raise FlagError("flag -family is only for the render command")
    if options.stay and options.command != "cleanup":
        raise FlagError("flag -stay is only for the cleanup command")
    if options.family == "ipv6" and not options.enable_ipv6:
        raise FlagError("flag -family=ipv6 needs -enable-ipv6")
    return options
