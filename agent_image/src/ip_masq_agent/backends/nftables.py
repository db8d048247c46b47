"""The native nftables backend: one `inet` table with interval sets, replaced atomically."""

from collections.abc import Callable

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.nftables_payload import (
    DEFAULT_TABLE,
    render_nftables_cleanup,
    render_nftables_payload,
)
from ip_masq_agent.rules import DesiredRules


class NftablesBackend:
    """Owns `table inet <table>` and nothing else; every change is one `nft -f` transaction."""

    def __init__(
        self,
        *,
        run: CommandRunner,
        table: str = DEFAULT_TABLE,
        generation: Callable[[], int | None] | None = None,
    ) -> None:
        """`generation` reads the nf_tables generation of the namespace `run` acts in.

        With it, `observe` lists the table only when the generation moved since the last
        listing: an idle resync then costs one netlink round trip and starts no process.
        Leave it out when `run` reaches into another namespace than this process's.
        """
        self._run = run
        self._table = table
        self._generation = generation
        self._listed: tuple[int, str] | None = None  # (generation, listing) of the last look

    @property
    def name(self) -> str:
        return "nftables"

    def render(self, desired: DesiredRules) -> str:
        return render_nftables_payload(desired, table=self._table)

    def apply(self, desired: DesiredRules) -> None:
        result = self._run(["nft", "-f", "-"], stdin=self.render(desired))
        if result.returncode != 0:
            raise ApplyError(f"nft -f (table inet {self._table}): {result.error_line}")

    def observe(self) -> str:
        """`nft list table`: the kernel's own rendering, so any tampering changes the text."""
        # Read before listing: a change racing the listing moves the number past the cache.
        generation = self._generation() if self._generation is not None else None
        if generation is not None and self._listed is not None and self._listed[0] == generation:
            return self._listed[1]
        listing = self._list()
        self._listed = None if generation is None else (generation, listing)
        return listing

    def _list(self) -> str:
        result = self._run(["nft", "list", "table", "inet", self._table])
        if result.returncode != 0:
            # A missing table is a legitimate state (first start, after cleanup, after tampering).
            if "No such file or directory" in result.stderr:
                return ""
            raise ApplyError(f"nft list table inet {self._table}: {result.error_line}")
        return result.stdout

    def cleanup(self) -> None:
        result = self._run(["nft", "-f", "-"], stdin=render_nftables_cleanup(table=self._table))
        if result.returncode != 0:
            raise ApplyError(f"nft delete table inet {self._table}: {result.error_line}")
