"""The `ip-masq-agent` command: run the agent, render payloads, or clean up."""

import logging
import sys
from collections.abc import Sequence
from importlib.util import find_spec

from ip_masq_agent.backends.base import ApplyError, Backend
from ip_masq_agent.backends.migration import OtherBackends, remove_other_backends
from ip_masq_agent.backends.registry import (
    BackendRegistry,
    BackendSettings,
    UnknownBackendError,
    default_backend_registry,
)
from ip_masq_agent.cli_config import defaults_for, parse_for, plan_for
from ip_masq_agent.commands import CommandRunner, SubprocessRunner
from ip_masq_agent.config import ConfigError
from ip_masq_agent.config_keeper import FileConfigSource
from ip_masq_agent.daemon_commands import run, stay_cleaning
from ip_masq_agent.flag_values import FlagError, split_address
from ip_masq_agent.flags import HelpRequestedError, Options, parse_flags, usage
from ip_masq_agent.logs import configure_logging, log_event
from ip_masq_agent.nft_generation import read_generation
from ip_masq_agent.rules import FAMILIES, DesiredRules

# prometheus_client is imported only where the agent serves health and metrics (`run`,
# `cleanup --stay`): `render`, `cleanup` and `--help` work from a plain `pip install` of the
# Pulumi package, whose users want the ConfigMap's rules on a workstation, not a metrics
# library. A node gets it from the image (Debian's python3-prometheus-client), a pip install
# from the `[agent]` extra.
_NEEDS_PROMETHEUS = (
    'needs prometheus-client: pip install "pulumi-ip-masq-agent[agent]" (or the agent image)'
)


def _require_prometheus(options: Options) -> None:
    # Found, not imported: `run` imports it only after its first sync (deferred_metrics).
    if (options.command == "run" or options.stay) and find_spec("prometheus_client") is None:
        what = "cleanup --stay" if options.stay else "run"
        raise FlagError(f"{what} {_NEEDS_PROMETHEUS}")


def render(options: Options, backend: Backend) -> int:
    """Print the payload(s) for the config file (defaults when missing); touches no rules."""
    source = FileConfigSource(options.config_path)
    text = source.read()
    config = (
        defaults_for(options)
        if text is None
        else parse_for(options, backend.name, source.name, text)
    )
    desired = plan_for(options, config)
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
