"""The agent's long-running commands: `run` (the sync loop, its servers and signals) and
`cleanup --stay` (the uninstall phase, Ready once no rule of ours is left)."""

from __future__ import annotations

import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.migration import OtherBackends
from ip_masq_agent.backends.registry import BackendRegistry, BackendSettings
from ip_masq_agent.cli_config import defaults_for, parse_for, plan_for
from ip_masq_agent.config import new_cidr_memo
from ip_masq_agent.config_keeper import ConfigKeeper, FileConfigSource
from ip_masq_agent.deferred_metrics import DeferredMetrics, Metrics
from ip_masq_agent.flags import Options
from ip_masq_agent.heap import release_free_memory
from ip_masq_agent.http_server import Route
from ip_masq_agent.logs import log_event
from ip_masq_agent.watch import ConfigWatcher

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ip_masq_agent.health import HealthServer
    from ip_masq_agent.runner import SyncRunner


def build_runner(
    options: Options,
    backend: Backend,
    logger: logging.Logger,
    metrics: Metrics,
    others: OtherBackends | None = None,
) -> SyncRunner:
    """The agent's sync loop for these flags: config keeper, planner, backend, metrics."""
    from ip_masq_agent.runner import SyncRunner, SyncTiming, SystemClock  # noqa: PLC0415

    config = ConfigKeeper(
        source=FileConfigSource(options.config_path),
        parse=functools.partial(
            parse_for, options, backend.name, options.config_path, cidr_memo=new_cidr_memo()
        ),
        defaults=defaults_for(options),
        metrics=metrics,
        logger=logger,
    )
    return SyncRunner(
        config=config,
        plan=functools.partial(plan_for, options),
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
    metrics = DeferredMetrics()
    runner = build_runner(options, backend, logger, metrics, others)
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
    # Watching before the first sync reads the file: an edit made meanwhile is not missed.
    watcher.start()
    servers: list[HealthServer] = []
    registries: list[CollectorRegistry] = []
    try:
        # The addresses are bound first: one that cannot be is an exit before any rule is
        # touched. They answer only after the first sync, which runs before prometheus_client
        # is loaded (~50 ms at start): what it reports is recorded and replayed once the
        # metrics exist. Until then a probe waits unanswered, which the startupProbe allows for
        # 30 s after its 2 s delay (the DaemonSet, daemon_set.py), as long as a stuck tool's
        # 30 s timeout; a first sync has nothing to be ready or healthy about before it is done.
        try:
            servers = _servers(options, runner, lambda: registries[0])
        except OSError as err:
            print(f"ip-masq-agent: {err}", file=sys.stderr)
            return 1
        runner.step()
        registries.append(_attach_metrics(metrics, backend))
        for server in servers:
            server.start()
        runner.run()
    finally:
        watcher.stop()
        for server in servers:
            server.stop()
    return 0


def _attach_metrics(metrics: DeferredMetrics, backend: Backend) -> CollectorRegistry:
    """The real metrics, with what the loop reported before they existed replayed into them."""
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 (see cli._NEEDS_PROMETHEUS)

    from ip_masq_agent.metrics import AgentMetrics  # noqa: PLC0415

    registry = CollectorRegistry()
    metrics.attach(AgentMetrics(registry, backend=backend.name))
    return registry


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
    options: Options, runner: SyncRunner, registry: Callable[[], CollectorRegistry]
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
