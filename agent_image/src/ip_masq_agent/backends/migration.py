"""Node migration: remove what this agent's other backends left, so a node holds one of them."""

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Final

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.iptables_tool import FLAVORS, flavor_of, probe_iptables
from ip_masq_agent.backends.registry import BackendRegistry, BackendSettings
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.rules import Family

# Backends that own distinct kernel state; `iptables` is an alias of one of the two flavours.
DISTINCT_BACKENDS: Final = ("iptables-nft", "iptables-legacy", "nftables")
# The legacy xtables tables this network namespace holds, one name a line (per namespace:
# /proc/net is the reader's own). Reading it starts no process and creates nothing.
_LEGACY_TABLES: Final = {"ipv4": "/proc/net/ip_tables_names", "ipv6": "/proc/net/ip6_tables_names"}


def legacy_nat_loaded(families: tuple[Family, ...]) -> bool:
    """Whether a legacy nat table exists here: without one, legacy holds none of our rules.

    Looking with `iptables-legacy-save -t nat` would create the table it looks for.
    """
    for family in families:
        try:
            names = Path(_LEGACY_TABLES[family]).read_text().split()
        except OSError:
            continue  # no ip_tables module: no legacy table at all
        if "nat" in names:
            return True
    return False


def _tool_missing(name: str, run: CommandRunner) -> bool:
    # A node without the tool holds nothing we could remove with it, and an image or host
    # without one flavour's tools must still start.
    if name == "nftables":
        return run(["nft", "--version"]).returncode == 127  # the runner's "not found"
    return not probe_iptables(run, FLAVORS[name]["ipv4"]).found


class OtherBackends:
    """This agent's backends other than the active one, as found on this node.

    `sweep` removes their rules. The runner calls it only after our own rules are written and
    verified, so a switch of backend never has a moment with neither in place, and never while
    there is no good config (the old rules then keep masquerading). Later sweeps find rules an
    overlapping old agent re-created; they are cheap when nothing changed: the nf_tables-based
    backends are observed through the ruleset generation (no process while it stands still)
    and legacy only when a legacy nat table exists at all.
    """

    def __init__(
        self,
        active: Backend | None,
        settings: BackendSettings,
        registry: BackendRegistry,
        *,
        legacy_loaded: Callable[[tuple[Family, ...]], bool] = legacy_nat_loaded,
    ) -> None:
        self._active = active
        self._settings = settings
        self._registry = registry
        self._legacy_loaded = legacy_loaded
        self._others: list[Backend] | None = None  # built at the first sweep, off the start path
        self._empty: dict[str, str] = {}  # each one's listing once it held nothing of ours

    def _build(self) -> list[Backend]:
        run = self._settings.run
        keep = {self._active.name} if self._active is not None else set()
        if self._active is not None and self._active.name == "iptables":
            # The plain `iptables` writes one flavour's state; its own probe says which.
            keep.add(flavor_of(self._active.nf_tables))
        # Only looked at and removed, never rendered: its tool's version does not matter, and
        # asking for it would start one more process.
        settings = dataclasses.replace(self._settings, random_fully=False)
        return [
            self._registry.create(name, settings)
            for name in DISTINCT_BACKENDS
            if name not in keep and not _tool_missing(name, run)
        ]

    def sweep(self) -> list[str]:
        """Remove the other backends' rules found now; the names of those that had some."""
        if self._others is None:
            self._others = self._build()
        removed = []
        for other in self._others:
            if other.name == "iptables-legacy" and not self._legacy_loaded(self._settings.families):
                continue
            before = other.observe()
            if self._empty.get(other.name) == before:
                continue
            other.cleanup()
            after = self._empty[other.name] = other.observe()
            if after != before:
                removed.append(other.name)
        return removed


def remove_other_backends(
    active: Backend | None, settings: BackendSettings, registry: BackendRegistry
) -> list[str]:
    """One sweep: what this agent's other backends own goes (`active=None`: every backend)."""
    return OtherBackends(active, settings, registry).sweep()
