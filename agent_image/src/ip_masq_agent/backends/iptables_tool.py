"""The iptables binaries: their names per flavour, and the one probe of what a binary is."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.rules import Family

# Binary per family for each flavour; `-restore`/`-save` are suffixed to these names.
FLAVORS: Final[Mapping[str, Mapping[Family, str]]] = {
    "iptables": {"ipv4": "iptables", "ipv6": "ip6tables"},
    "iptables-legacy": {"ipv4": "iptables-legacy", "ipv6": "ip6tables-legacy"},
    "iptables-nft": {"ipv4": "iptables-nft", "ipv6": "ip6tables-nft"},
}
# Whether a flavour's rules live in nf_tables; None: the plain `iptables` says when asked.
FLAVOR_NF_TABLES: Final[Mapping[str, bool | None]] = {
    "iptables": None,
    "iptables-legacy": False,
    "iptables-nft": True,
}
# `MASQUERADE --random-fully` exists from iptables 1.6.2 on.
RANDOM_FULLY_SINCE: Final = (1, 6, 2)
_VERSION: Final = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class IptablesTool:
    """What `<binary> --version` says: its version and whether it drives nf_tables."""

    version: tuple[int, int, int] | None
    nf_tables: bool
    found: bool = True  # False: no such binary here (the runner's status 127)

    @property
    def random_fully(self) -> bool:
        """Whether it takes `--random-fully`; an unknown version is assumed modern."""
        return self.version is None or self.version >= RANDOM_FULLY_SINCE


def flavor_of(nf_tables: bool) -> str:
    """The distinct flavour whose kernel state a binary of that kind writes."""
    return "iptables-nft" if nf_tables else "iptables-legacy"


def parse_iptables_version(text: str) -> tuple[int, int, int] | None:
    """`iptables v1.8.9 (nf_tables)` -> (1, 8, 9)."""
    match = _VERSION.search(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def parse_iptables_tool(text: str) -> IptablesTool:
    """`iptables v1.8.9 (nf_tables)`; a line without `(nf_tables)` is legacy (all before 1.8)."""
    return IptablesTool(parse_iptables_version(text), "(nf_tables)" in text)


def probe_iptables(run: CommandRunner, binary: str) -> IptablesTool:
    """Ask the binary (at start, never while rendering)."""
    result = run([binary, "--version"])
    if result.returncode == 127:
        return IptablesTool(None, nf_tables=False, found=False)
    return parse_iptables_tool(result.stdout + result.stderr)


class IptablesProbe:
    """One binary, asked at most once, and only when an answer is needed.

    Rendering with `--random-fully=false` needs no answer (no process runs); the version
    and the flavour, when both are needed, come from the same single `--version`.
    """

    def __init__(self, run: CommandRunner, binary: str) -> None:
        self._run = run
        self._binary = binary
        self._tool: IptablesTool | None = None

    def tool(self) -> IptablesTool:
        if self._tool is None:
            self._tool = probe_iptables(self._run, self._binary)
        return self._tool
