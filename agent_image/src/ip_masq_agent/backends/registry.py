"""Which backend `--backend NAME` builds: a registry of factories backends register in."""

from collections.abc import Callable
from dataclasses import dataclass

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.iptables import FLAVORS, IptablesBackend
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.rules import Family


@dataclass(frozen=True)
class BackendSettings:
    """What every backend needs to own its rules: the chain (or table) name, families, a runner."""

    chain: str
    families: tuple[Family, ...]
    run: CommandRunner


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
        return factory(settings)


def _iptables(flavor: str) -> BackendFactory:
    def build(settings: BackendSettings) -> Backend:
        return IptablesBackend(
            flavor=flavor, chain=settings.chain, families=settings.families, run=settings.run
        )

    return build


def default_backend_registry() -> BackendRegistry:
    """The backends this build knows; `auto` means the distribution's `iptables` for now."""
    registry = BackendRegistry()
    registry.register("auto", _iptables("iptables"))
    for flavor in FLAVORS:
        registry.register(flavor, _iptables(flavor))
    return registry
