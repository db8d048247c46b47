"""Which backend `--backend NAME` builds: a registry of factories backends register in."""

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.detect import detect_backend
from ip_masq_agent.backends.generation_cache import GenerationCachedBackend, WriteCounter
from ip_masq_agent.backends.iptables import FLAVORS, IptablesBackend, probe_iptables
from ip_masq_agent.backends.nftables import NftablesBackend
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.logs import LOGGER_NAME, log_event
from ip_masq_agent.nftables_payload import table_name, unmarked_table_name
from ip_masq_agent.rules import Family

# Backends whose rules live in nf_tables, so the ruleset generation tells when they changed.
NF_TABLES_BACKENDS: Final = frozenset({"iptables-nft", "nftables"})


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

    def create(self, name: str, settings: BackendSettings) -> Backend:
        factory = self._factories.get(name)
        if factory is None:
            raise UnknownBackendError(
                f"invalid value {name!r} for flag -backend:"
                f" want one of {', '.join(self._factories)}"
            )
        writes = WriteCounter(settings.run)
        backend = factory(dataclasses.replace(settings, run=writes))
        if isinstance(backend, GenerationCachedBackend):
            return backend  # `auto` built it through this very method
        nf_tables = backend.name in NF_TABLES_BACKENDS or (
            isinstance(backend, IptablesBackend) and backend.nf_tables
        )
        if settings.generation is not None and nf_tables:
            # iptables' apply reads the chain before it writes: its writes are proven by the
            # generation (nftables proves its own, from the listing it decided on).
            proven = writes if isinstance(backend, IptablesBackend) else None
            return GenerationCachedBackend(backend, settings.generation, proven)
        return backend


def _iptables(flavor: str) -> BackendFactory:
    def build(settings: BackendSettings) -> Backend:
        # The tool is asked once, here: whether it takes --random-fully, and for the plain
        # `iptables` whether it is nf_tables-based (then the generation check applies too).
        alias = flavor == "iptables" and settings.generation is not None
        tool = (
            probe_iptables(settings.run, FLAVORS[flavor]["ipv4"])
            if settings.random_fully or alias
            else None
        )
        return IptablesBackend(
            flavor=flavor,
            chain=settings.chain,
            families=settings.families,
            run=settings.run,
            random_fully_supported=tool is None or tool.random_fully,
            nf_tables=None if flavor != "iptables" else tool is not None and tool.nf_tables,
        )

    return build


def _nftables(settings: BackendSettings) -> Backend:
    return NftablesBackend(
        run=settings.run,
        table=table_name(settings.chain),
        unmarked_table=unmarked_table_name(settings.chain),
        generation=settings.generation,
    )


def _auto(registry: BackendRegistry) -> BackendFactory:
    def build(settings: BackendSettings) -> Backend:
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
        return registry.create(detection.backend, settings)

    return build


def default_backend_registry() -> BackendRegistry:
    """Every backend this build knows; `auto` detects what the node uses and builds that."""
    registry = BackendRegistry()
    registry.register("auto", _auto(registry))
    for flavor in FLAVORS:
        registry.register(flavor, _iptables(flavor))
    registry.register("nftables", _nftables)
    return registry
