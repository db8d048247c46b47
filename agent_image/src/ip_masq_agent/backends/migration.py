"""Node migration: remove what this agent's other backends left, so a node holds one of them."""

import dataclasses
from typing import Final

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.iptables import FLAVORS
from ip_masq_agent.backends.registry import BackendRegistry, BackendSettings
from ip_masq_agent.commands import CommandRunner

# Backends that own distinct kernel state; `iptables` is an alias of one of the two flavours.
DISTINCT_BACKENDS: Final = ("iptables-nft", "iptables-legacy", "nftables")


def iptables_alias_flavor(run: CommandRunner) -> str:
    """Which flavour the distribution's plain `iptables` is (`iptables --version` says)."""
    result = run(["iptables", "--version"])
    return "iptables-legacy" if "legacy" in result.stdout else "iptables-nft"


def _legacy_nat_exists(settings: BackendSettings) -> bool:
    binaries = FLAVORS["iptables-legacy"]
    for family in settings.families:
        # A whole-ruleset save lists only tables that exist; it creates none.
        if "\n*nat\n" in "\n" + settings.run([f"{binaries[family]}-save"]).stdout:
            return True
    return False


def _tool_missing(name: str, run: CommandRunner) -> bool:
    tool = "nft" if name == "nftables" else FLAVORS[name]["ipv4"]
    # 127: the runner's "command not found". Such a node holds nothing we could remove with
    # it, and an image or host without one flavour's tools must still start.
    return run([tool, "--version"]).returncode == 127


def remove_other_backends(
    active: Backend | None, settings: BackendSettings, registry: BackendRegistry
) -> list[str]:
    """Clean up what this agent's other backends own, so a node never holds two of them.

    `active=None` removes everything (the `cleanup` command). Returns the backends whose
    state was found and removed, for the log. Only our own chain/table names are touched.
    """
    keep = {active.name} if active is not None else set()
    if "iptables" in keep:
        keep.add(iptables_alias_flavor(settings.run))
    removed = []
    for name in DISTINCT_BACKENDS:
        if name in keep:
            continue
        if name == "iptables-legacy" and not _legacy_nat_exists(settings):
            continue  # looking (`-save -t nat`) would create the legacy nat table
        if _tool_missing(name, settings.run):
            continue
        # Only looked at and removed, never rendered: its tool's version does not matter, and
        # asking for it would start one more process at every agent start.
        other = registry.create(name, dataclasses.replace(settings, random_fully=False))
        before = other.observe()
        other.cleanup()
        if other.observe() != before:
            removed.append(name)
    return removed
