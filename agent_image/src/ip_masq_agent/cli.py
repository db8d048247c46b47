"""The `ip-masq-agent` command: run the agent, render payloads, or clean up."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from ip_masq_agent.backends.base import ApplyError, Backend
from ip_masq_agent.backends.migration import OtherBackends, remove_other_backends
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
from ip_masq_agent.flags import FlagError, HelpRequestedError, Options, parse_flags, usage
from ip_masq_agent.heap import release_free_memory
from ip_masq_agent.http_server import Route
from ip_masq_agent.logs import configure_logging, log_event
from ip_masq_agent.nft_generation import read_generation
from ip_masq_agent.rules import FAMILIES, DesiredRules, Masquerade, plan_rules
from ip_masq_agent.watch import ConfigWatcher

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ip_masq_agent.health import HealthServer
    from ip_masq_agent.runner import SyncRunner

# prometheus_client is imported only where the agent serves health and metrics (`run`,
# `cleanup --stay`): `render`, `cleanup` and `--help` work from a plain `pip install` of the
# Pulumi package, whose users want the ConfigMap's rules on a workstation, not a metrics
# library. A node gets it from the image (Debian's python3-prometheus-client), a pip install
# from the `[agent]` extra.
_NEEDS_PROMETHEUS = (
    'needs prometheus-client: pip install "pulumi-ip-masq-agent[agent]" (or the agent image)'
)


def _require_prometheus(options: Options) -> None:
    if options.command == "run" or options.stay:
        try:
            import prometheus_client  # noqa: F401, PLC0415
        except ModuleNotFoundError:
            what = "cleanup --stay" if options.stay else "run"
            raise FlagError(f"{what} {_NEEDS_PROMETHEUS}") from None


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
        generation=read_generation if options.command == "run" or options.stay else None,
        random_fully=options.random_fully,
    )


def build_runner(
    options: Options,
    backend: Backend,
    logger: logging.Logger,
    registry: CollectorRegistry,
    others: OtherBackends | None = None,
) -> SyncRunner:
    """The agent's sync loop for these flags: config keeper, planner, backend, metrics."""
    from ip_masq_agent.metrics import AgentMetrics  # noqa: PLC0415 (prometheus_client)
    from ip_masq_agent.runner import SyncRunner, SyncTiming, SystemClock  # noqa: PLC0415

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
        others=others,
        timing=SyncTiming(health_timeout=options.health_timeout),
        release_memory=release_free_memory,
    )


def run(
    options: Options, backend: Backend, logger: logging.Logger, others: OtherBackends | None = None
) -> int:
    """The agent: sync at start, then on config changes, every resyncInterval and on retry.

    `others`, our other backends on the node, lose their rules after each successful sync.
    """
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 (see _NEEDS_PROMETHEUS)

    registry = CollectorRegistry()
    runner = build_runner(options, backend, logger, registry, others)
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

    def on_hangup(_signum: int, _frame: FrameType | None) -> None:
        # SIGHUP means "reload" to daemons: the agent re-reads its config on every sync, so a
        # sync now is the reload (and repairs drift too). Its default action would kill the
        # agent silently. The handler runs on the main thread, which may hold the runner's lock
        # in the loop: the request goes from a thread of its own.
        threading.Thread(target=reload, name="sighup", daemon=True).start()

    def reload() -> None:
        log_event(logger, logging.INFO, "SIGHUP: re-reading the config now", signal="SIGHUP")
        runner.request_sync("SIGHUP")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
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


def stay_cleaning(
    options: Options, settings: BackendSettings, registry: BackendRegistry, logger: logging.Logger
) -> int:
    """`cleanup --stay`: remove every backend's rules, then keep them gone, Ready once they are."""
    # Imported here: the loop's health and server bring prometheus_client, which `render` and
    # a one-off `cleanup` must not need.
    from ip_masq_agent.cleanup_phase import CleanupPhase  # noqa: PLC0415
    from ip_masq_agent.health import HealthServer, health_routes  # noqa: PLC0415

    phase = CleanupPhase(OtherBackends(None, settings, registry), logger)
    try:
        routes = health_routes(phase.report)
        server = HealthServer(options.health_address, routes, flag="health-address")
    except OSError as err:
        print(f"ip-masq-agent: -health-address: cannot listen: {err.strerror}", file=sys.stderr)
        return 1

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log_event(logger, logging.INFO, "stopping", signal=signal.Signals(signum).name)
        phase.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log_event(logger, logging.INFO, "cleanup phase", chain=options.masq_chain)
    server.start()
    try:
        phase.run()
    finally:
        server.stop()
    return 0


def _servers(
    options: Options, runner: SyncRunner, registry: CollectorRegistry
) -> list[HealthServer]:
    """One server per distinct address; health and metrics share one when the addresses do."""
    from ip_masq_agent.health import HealthServer, health_routes, metrics_routes  # noqa: PLC0415

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
        _require_prometheus(options)
        # Before the backend: `--backend auto` logs what it detected and why.
        logger = configure_logging(options.verbosity)
        settings = backend_settings(options, SubprocessRunner())
        backend = registry.create(options.backend, settings)
        if options.stay and not options.health_address:
            raise FlagError("flag -stay needs -health-address: readiness says when cleanup is done")
        if (options.command == "run" and not options.once) or options.stay:
            from ip_masq_agent.health import split_address  # noqa: PLC0415 (prometheus_client)

            for flag, address in (
                ("health-address", options.health_address),
                ("metrics-address", options.metrics_address),
            ):
                if address:
                    split_address(address, flag)
    except HelpRequestedError:
        sys.stdout.write(usage(registry.names()))
        return 0
    except (FlagError, UnknownBackendError, ValueError) as err:
        print(f"ip-masq-agent: {err}", file=sys.stderr)
        return 2
    try:
        if options.command == "render":
            return render(options, backend)
        if options.command == "cleanup" and options.stay:
            return stay_cleaning(options, settings, registry, logger)
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
        # A node never holds two of our backends: what a previous choice left goes once ours
        # are in place (the runner sweeps after every successful sync), never before.
        return run(options, backend, logger, OtherBackends(backend, settings, registry))
    except (ConfigError, ApplyError) as err:
        print(f"ip-masq-agent: {err}", file=sys.stderr)
        return 1
