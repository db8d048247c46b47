"""Which backend `--backend NAME` builds: a registry of factories backends register in."""

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.generation_cache import GenerationCachedBackend, WriteCounter
from ip_masq_agent.backends.iptables_tool import FLAVORS, IptablesProbe
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.contract import BACKEND_AUTO, BACKEND_NFTABLES
from ip_masq_agent.logs import LOGGER_NAME, log_event
from ip_masq_agent.nftables_payload import table_name, unmarked_table_name
from ip_masq_agent.rules import Family


@dataclass(frozen=True)
class BackendSettings:
    """What every backend needs to own its rules: the chain (or table) name, families, a runner."""

    chain: str
    families: tuple[Family, ...]
    run: CommandRunner
    # Reads the nf_tables generation where `run` acts (the agent: its own namespace); lets
    # nf_tables-based backends skip listing an unchanged ruleset. None: always list.
    generation: Callable[[], int | None] | None = None
    # Whether `--random-fully` is wanted: only then does the iptables version matter.
    random_fully: bool = True


BackendFactory = Callable[[BackendSettings], Backend]


class UnknownBackendError(ValueError):
    """`--backend` names nothing registered."""


class BackendRegistry:
    """Named backend factories; `auto` is just another entry (it may probe the node)."""

    def __init__(self) -> None:
        self._factories: dict[str, BackendFactory] = {}

    def register(self, name: str, factory: BackendFactory) -> None:
        """Add or replace a backend; later registrations win (e.g. a smarter `auto`)."""
        self._factories[name] = factory

    def names(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def factory(self, name: str) -> BackendFactory:
        """The factory registered under `name`; it builds the backend bare (no cache)."""
        factory = self._factories.get(name)
        if factory is None:
            raise UnknownBackendError(
                f"invalid value {name!r} for flag -backend:"
                f" want one of {', '.join(self._factories)}"
            )
        return factory

    def create(self, name: str, settings: BackendSettings) -> Backend:
        # Counts the tools' commits, with which a write is proven by the generation alone.
        writes = WriteCounter(settings.run)
        backend = self.factory(name)(dataclasses.replace(settings, run=writes))
        # The generation first: only then may a plain `iptables` be asked which it is.
        if settings.generation is not None and backend.nf_tables:
            # iptables' apply reads the chain before it writes: its writes are proven by the
            # generation (nftables proves its own, from the listing it decided on).
            proven = None if backend.name == BACKEND_NFTABLES else writes
            return GenerationCachedBackend(backend, settings.generation, proven)
        return backend


def _iptables(flavor: str) -> BackendFactory:
    def build(settings: BackendSettings) -> Backend:
        # Each backend's modules are imported when it is built: an agent starts with one.
        from ip_masq_agent.backends.iptables import IptablesBackend  # noqa: PLC0415

        # The one probe of the binary, handed to the backend: asked here, at start, when
        # --random-fully is wanted (does it take it?); otherwise only if its flavour is.
        probe = IptablesProbe(settings.run, FLAVORS[flavor]["ipv4"])
        return IptablesBackend(
            flavor=flavor,
            chain=settings.chain,
            families=settings.families,
            run=settings.run,
            random_fully_supported=probe.tool().random_fully if settings.random_fully else True,
            probe=probe,
        )

    return build


def _nftables(settings: BackendSettings) -> Backend:
    from ip_masq_agent.backends.nftables import NftablesBackend  # noqa: PLC0415

    return NftablesBackend(
        run=settings.run,
        table=table_name(settings.chain),
        unmarked_table=unmarked_table_name(settings.chain),
        generation=settings.generation,
    )


def _auto(registry: BackendRegistry) -> BackendFactory:
    def build(settings: BackendSettings) -> Backend:
        from ip_masq_agent.backends.detect import detect_backend  # noqa: PLC0415

        detection = detect_backend(
            settings.run, own_chain=settings.chain, own_table=table_name(settings.chain)
        )
        log_event(
            logging.getLogger(LOGGER_NAME),
            logging.INFO,
            "backend detected",
            backend=detection.backend,
            reason=detection.reason,
        )
        return registry.factory(detection.backend)(settings)  # `create` wraps it once

    return build


def default_backend_registry() -> BackendRegistry:
    """Every backend this build knows; `auto` detects what the node uses and builds that."""
    registry = BackendRegistry()
    registry.register(BACKEND_AUTO, _auto(registry))
    for flavor in FLAVORS:
        registry.register(flavor, _iptables(flavor))
    registry.register(BACKEND_NFTABLES, _nftables)
    return registry
