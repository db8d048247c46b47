"""The `ip-masq-agent` command: run the agent, render payloads, or clean up."""

import functools
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from prometheus_client import CollectorRegistry

from ip_masq_agent.backends.base import ApplyError, Backend
from ip_masq_agent.backends.migration import remove_other_backends
from ip_masq_agent.backends.registry import (
    BackendRegistry,
    BackendSettings,
    UnknownBackendError,
    default_backend_registry,
)
from ip_masq_agent.commands import CommandRunner, SubprocessRunner
from ip_masq_agent.config import (
    AgentConfig,
    CidrMemo,
    ConfigError,
    default_config,
    new_cidr_memo,
    parse_config,
)
from ip_masq_agent.config_keeper import ConfigKeeper, FileConfigSource
from ip_masq_agent.flags import FlagError, Options, parse_flags
from ip_masq_agent.health import HealthServer, health_routes, metrics_routes, split_address
from ip_masq_agent.heap import release_free_memory
from ip_masq_agent.http_server import Route
from ip_masq_agent.logs import configure_logging, log_event
from ip_masq_agent.metrics import AgentMetrics
from ip_masq_agent.nft_generation import read_generation
from ip_masq_agent.rules import FAMILIES, DesiredRules, Masquerade, plan_rules
from ip_masq_agent.runner import SyncRunner, SystemClock
from ip_masq_agent.watch import ConfigWatcher


def _plan(options: Options, config: AgentConfig) -> DesiredRules:
    return plan_rules(
        config,
        chain=options.masq_chain,
        enable_ipv6=options.enable_ipv6,
        masquerade=Masquerade(random_fully=options.random_fully, to_ports=options.to_ports),
    )


def _parse(
    options: Options, source: str, text: str, cidr_memo: CidrMemo | None = None
) -> AgentConfig:
    return parse_config(
        text,
        enable_ipv6=options.enable_ipv6,
        nomasq_all_reserved_ranges=options.nomasq_all_reserved_ranges,
        source=source,
        cidr_memo=cidr_memo,
    )


def _defaults(options: Options) -> AgentConfig:
    return default_config(nomasq_all_reserved_ranges=options.nomasq_all_reserved_ranges)


def render(options: Options, backend: Backend) -> int:
    """Print the payload(s) for the config file (defaults when missing); touches no rules."""
    source = FileConfigSource(options.config_path)
    text = source.read()
    config = _defaults(options) if text is None else _parse(options, source.name, text)
    desired = _plan(options, config)
    if options.family is not None:
        desired = DesiredRules(
            chain=desired.chain,
            families=tuple(r for r in desired.families if r.family == options.family),
        )
    sys.stdout.write(backend.render(desired))
    return 0


def backend_settings(options: Options, run: CommandRunner) -> BackendSettings:
    """What `registry.create` gets for these flags, tools run through `run`."""
    families = FAMILIES if options.enable_ipv6 else FAMILIES[:1]
    return BackendSettings(
        options.masq_chain,
        families,
        run,
        # Only a running agent resyncs; `render` asks the node nothing it does not need. The
        # agent's tools run in its own namespace, so its own netlink socket sees theirs.
        generation=read_generation if options.command == "run" else None,
        random_fully=options.random_fully,
    )


def build_runner(
    options: Options, backend: Backend, logger: logging.Logger, registry: CollectorRegistry
) -> SyncRunner:
    """The agent's sync loop for these flags: config keeper, planner, backend, metrics."""
    metrics = AgentMetrics(registry, backend=backend.name)
    config = ConfigKeeper(
        source=FileConfigSource(options.config_path),
        parse=functools.partial(_parse, options, options.config_path, cidr_memo=new_cidr_memo()),
        defaults=_defaults(options),
        metrics=metrics,
        logger=logger,
    )
    return SyncRunner(
        config=config,
        plan=functools.partial(_plan, options),
        backend=backend,
        clock=SystemClock(),
        metrics=metrics,
        logger=logger,
        release_memory=release_free_memory,
    )


def run(options: Options, backend: Backend, logger: logging.Logger) -> int:
    """The agent: sync at start, then on config changes, every resyncInterval and on retry."""
    registry = CollectorRegistry()
    runner = build_runner(options, backend, logger, registry)
    log_event(
        logger,
        logging.INFO,
        "starting",
        backend=backend.name,
        config=options.config_path,
        chain=options.masq_chain,
        ipv6=options.enable_ipv6,
    )
    if options.once:
        if runner.sync():
            return 0
        print(f"ip-masq-agent: sync failed: {runner.last_error}", file=sys.stderr)
        return 1

    try:
        servers = _servers(options, runner, registry)
    except OSError as err:
        print(f"ip-masq-agent: {err}", file=sys.stderr)
        return 1
    watcher = ConfigWatcher(options.config_path, lambda: runner.request_sync("config file changed"))
    # `poll` only when inotify cannot watch the config's directory (e.g. it does not exist).
    log_event(logger, logging.INFO, "watching config", path=options.config_path, mode=watcher.mode)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Rules stay: removing them would send pod traffic out un-NATed while we restart.
        log_event(
            logger,
            logging.INFO,
            "stopping, rules left in place",
            signal=signal.Signals(signum).name,
        )
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for server in servers:
        server.start()
    watcher.start()
    try:
        runner.run()
    finally:
        watcher.stop()
        for server in servers:
            server.stop()
    return 0


def _servers(
    options: Options, runner: SyncRunner, registry: CollectorRegistry
) -> list[HealthServer]:
    """One server per distinct address; health and metrics share one when the addresses do."""
    wanted: dict[str, tuple[str, dict[str, Route]]] = {}
    for flag, address, routes in (
        ("health-address", options.health_address, health_routes(runner.health)),
        ("metrics-address", options.metrics_address, metrics_routes(registry)),
    ):
        if address:
            wanted.setdefault(address, (flag, {}))[1].update(routes)
    servers = []
    try:
        for address, (flag, routes) in wanted.items():
            try:
                servers.append(HealthServer(address, routes, flag=flag))
            except OSError as err:
                raise OSError(f"-{flag}: cannot listen on {address}: {err.strerror}") from None
    except OSError:
        for server in servers:
            server.stop()
        raise
    return servers


def main(argv: Sequence[str] | None = None, *, backends: BackendRegistry | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    registry = backends or default_backend_registry()
    try:
        options = parse_flags(sys.argv[1:] if argv is None else argv)
        # Before the backend: `--backend auto` logs what it detected and why.
        logger = configure_logging(options.verbosity)
        settings = backend_settings(options, SubprocessRunner())
        backend = registry.create(options.backend, settings)
        if options.command == "run" and not options.once:
            for flag, address in (
                ("health-address", options.health_address),
                ("metrics-address", options.metrics_address),
            ):
                if address:
                    split_address(address, flag)
    except (FlagError, UnknownBackendError, ValueError) as err:
        print(f"ip-masq-agent: {err}", file=sys.stderr)
        return 2
    try:
        if options.command == "render":
            return render(options, backend)
        if options.command == "cleanup":
            # Every backend's state, whichever wrote it: after cleanup the node has no trace.
            backend.cleanup()
            others = remove_other_backends(backend, settings, registry)
            log_event(
                logger,
                logging.INFO,
                "cleaned up",
                backend=backend.name,
                chain=options.masq_chain,
                also=",".join(others) or "-",
            )
            return 0
        # A node never holds two of our backends: drop what a previous choice left behind.
        for other in remove_other_backends(backend, settings, registry):
            log_event(logger, logging.WARNING, "removed rules of another backend", backend=other)
        return run(options, backend, logger)
    except (ConfigError, ApplyError) as err:
        print(f"ip-masq-agent: {err}", file=sys.stderr)
        return 1
