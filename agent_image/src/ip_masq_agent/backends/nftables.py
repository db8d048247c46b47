"""The native nftables backend: one `inet` table with interval sets, replaced atomically."""

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.nftables_payload import (
    DEFAULT_TABLE,
    canonical_listing,
    render_nftables_cleanup,
    render_nftables_payload,
    render_table_definition,
)
from ip_masq_agent.rules import DesiredRules


class NftablesBackend:
    """Owns `table inet <table>` and nothing else; every change is one `nft -f` transaction."""

    def __init__(self, *, run: CommandRunner, table: str = DEFAULT_TABLE) -> None:
        self._run = run
        self._table = table

    @property
    def name(self) -> str:
        return "nftables"

    def render(self, desired: DesiredRules) -> str:
        return render_nftables_payload(desired, table=self._table)

    def apply(self, desired: DesiredRules) -> None:
        result = self._run(["nft", "-f", "-"], stdin=self.render(desired))
        if result.returncode != 0:
            raise ApplyError(f"nft -f (table inet {self._table}): {result.error_line}")

    def expected(self, desired: DesiredRules) -> str:
        return canonical_listing(render_table_definition(desired, table=self._table))

    def observe(self) -> str:
        """`nft list table`, canonical: the kernel's own rendering, so any tampering shows."""
        result = self._run(["nft", "list", "table", "inet", self._table])
        if result.returncode != 0:
            # A missing table is a legitimate state (first start, after cleanup, after tampering).
            if "No such file or directory" in result.stderr:
                return ""
            raise ApplyError(f"nft list table inet {self._table}: {result.error_line}")
        return canonical_listing(result.stdout)

    def cleanup(self) -> None:
        result = self._run(["nft", "-f", "-"], stdin=render_nftables_cleanup(table=self._table))
        if result.returncode != 0:
            raise ApplyError(f"nft delete table inet {self._table}: {result.error_line}")
