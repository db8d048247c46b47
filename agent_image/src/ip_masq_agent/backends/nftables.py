"""The native nftables backend: one `inet` table with interval sets, rewritten atomically."""

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.memo import UseMemo
from ip_masq_agent.nftables_payload import (
    CHAIN,
    DEFAULT_TABLE,
    TABLE_MARKER,
    canonical_element,
    canonical_listing,
    is_our_table,
    render_nftables_cleanup,
    render_nftables_payload,
    table_skeleton,
    update_from_payload,
)
from ip_masq_agent.rules import DesiredRules


class NftablesBackend:
    """Owns `table inet <table>` and nothing else; every change is one `nft -f` transaction.

    A table already laid out as desired is updated in place (sets and chain flushed and
    refilled), a missing one is created sets first, then its chain; any other is deleted
    and re-created whole in one transaction.

    `unmarked_table` is the name earlier versions gave the table (the chain lower-cased): the
    first apply removes it in the same transaction when it is one of ours, and cleanup too. A
    table is only ever removed when `is_our_table` says it is ours, and the first apply
    refuses to replace a table of our name that is not.
    """

    def __init__(
        self, *, run: CommandRunner, table: str = DEFAULT_TABLE, unmarked_table: str | None = None
    ) -> None:
        self._run = run
        self._table = table
        self._unmarked = unmarked_table if unmarked_table != table else None
        self._migrated = self._unmarked is None
        self._first_apply = True
        self._rendered: tuple[DesiredRules, str] | None = None
        self._update: tuple[DesiredRules, str] | None = None
        self._seen: tuple[str | None] | None = None  # what observe() last read; None: unknown
        # The elements of the latest listing (ours or the kernel's): the next one repeats them.
        self._elements = UseMemo(canonical_element)

    @property
    def name(self) -> str:
        return "nftables"

    @property
    def nf_tables(self) -> bool:
        return True

    def render(self, desired: DesiredRules) -> str:
        # A sync renders the same plan twice (expected view, then apply): once is enough.
        memo = self._rendered
        if memo is None or memo[0] is not desired:
            # The old plan's scripts go first: they are never wanted again, and 10,000
            # elements' worth of each would otherwise meet the new ones.
            self._rendered = self._update = None
            memo = self._rendered = (desired, render_nftables_payload(desired, table=self._table))
        return memo[1]

    def _listing(self, table: str) -> str | None:
        """`nft list table inet TABLE`; None when there is no such table."""
        result = self._run(["nft", "list", "table", "inet", table])
        if result.returncode != 0:
            # A missing table is a legitimate state (first start, after cleanup, after tampering).
            if "No such file or directory" in result.stderr:
                return None
            raise ApplyError(f"nft list table inet {table}: {result.error_line}")
        return result.stdout

    def _ours(self, table: str) -> bool:
        listing = self._listing(table)
        return listing is not None and is_our_table(listing)

    def apply(self, desired: DesiredRules) -> None:
        # The listing the last observe() read decides the way in: a sync has just observed
        # (or verified its last write), and a table changed since then fails the update or
        # the verification after it, which then writes again from a fresh listing.
        seen, self._seen = self._seen, None
        listing = seen[0] if seen is not None and not self._first_apply else None
        if seen is None or self._first_apply:
            listing = self._listing(self._table)
        if self._first_apply and listing is not None and not is_our_table(listing):
            # Our name on a table we did not write: refuse rather than replace a node's table.
            raise ApplyError(
                f"table inet {self._table} exists but was not written by ip-masq-agent"
                " (no marker comment); rename or remove it, or pick another --masq-chain"
            )
        migrate = not self._migrated and self._unmarked is not None and self._ours(self._unmarked)
        if not migrate and listing is not None and self._in_place(listing, desired):
            # The table stays and only its contents change: no moment when a new chain
            # looks up a set that is not matching yet (see render_nftables_update).
            result = self._run(["nft", "-f", "-"], stdin=self._update_script(desired))
            if result.returncode == 0:
                self._first_apply = False
                return
            # Changed since that listing (e.g. deleted): decide again from the kernel's table.
            listing = self._listing(self._table)
        if listing is None:
            # Created in two steps, sets first: a chain created in the same transaction as
            # the sets it looks up answers a moment before they match. Until the chain comes
            # the new table NATs nothing, as no table did (nor does it hide an old one).
            definition = self.render(desired).split("\n", 2)[2]
            cut = definition.index(f"\tchain {CHAIN} ")
            self._nft(definition[:cut] + "}\n")
            script = f"table inet {self._table} {{\n" + definition[cut:]
        else:
            script = self.render(desired)
        if migrate:
            # The old table goes in the same transaction the new one comes in: no moment
            # without masquerading, none with both.
            script += f"delete table inet {self._unmarked}\n"
        self._nft(script)
        self._migrated = True
        self._first_apply = False

    def _update_script(self, desired: DesiredRules) -> str:
        # Out of render()'s memo: merging 10,000 CIDRs again would cost a third of nft's time.
        memo = self._update
        if memo is None or memo[0] is not desired:
            memo = self._update = (
                desired,
                update_from_payload(self.render(desired), table=self._table),
            )
        return memo[1]

    def _nft(self, script: str) -> None:
        result = self._run(["nft", "-f", "-"], stdin=script)
        if result.returncode != 0:
            raise ApplyError(f"nft -f (table inet {self._table}): {result.error_line}")

    def _in_place(self, listing: str, desired: DesiredRules) -> bool:
        """Whether the kernel's table has the desired layout, so an in-place update makes it."""
        definition = self.render(desired).split("\n", 2)[2]  # memoised, unlike a new render
        return f'comment "{TABLE_MARKER}"' in listing and table_skeleton(listing) == table_skeleton(
            definition
        )

    def expected(self, desired: DesiredRules) -> str:
        # The payload less its leading create-and-delete lines: the table as nft lists it.
        with self._elements.use():
            return canonical_listing(self.render(desired).split("\n", 2)[2], self._elements)

    def observe(self) -> str:
        """`nft list table`, canonical: the kernel's own rendering, so any tampering shows."""
        listing = self._listing(self._table)
        self._seen = (listing,)
        if listing is None:
            return ""
        with self._elements.use():
            return canonical_listing(listing, self._elements)

    def cleanup(self) -> None:
        self._seen = None
        for table in (self._table, self._unmarked):
            if table is None or not self._ours(table):
                continue  # absent, or a node table that merely shares the name: left alone
            result = self._run(["nft", "-f", "-"], stdin=render_nftables_cleanup(table=table))
            if result.returncode != 0:
                raise ApplyError(f"nft delete table inet {table}: {result.error_line}")
