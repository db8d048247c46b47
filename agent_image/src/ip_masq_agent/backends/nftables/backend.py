"""The native nftables backend: one `inet` table with interval sets, rewritten atomically."""

from collections.abc import Callable

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.backends.nftables.element_texts import ElementTexts
from ip_masq_agent.backends.nftables.listing import (
    ListingError,
    is_marked,
    is_our_table,
    parse_listing,
    unreadable,
)
from ip_masq_agent.backends.nftables.model import (
    IntervalSet,
    Table,
    desired_sets,
    desired_table,
    orphans,
    skeleton,
    slot_in_use,
    view,
    without,
)
from ip_masq_agent.backends.nftables.names import DEFAULT_TABLE
from ip_masq_agent.backends.nftables.script import (
    definition,
    ensure_then_delete,
    replace_script,
    swap_scripts,
)
from ip_masq_agent.commands import CommandRunner
from ip_masq_agent.rules import DesiredRules


class NftablesBackend:
    """Owns `table inet <table>` and nothing else; every write is one or two `nft -f`
    transactions, each atomic.

    A table already laid out as desired is updated in two transactions: its sets are made
    anew under their other name, then the chain is pointed at them and the old ones go
    (script.swap_scripts). A missing one is created sets first, then its chain; any other is
    deleted and re-created whole in one transaction.

    `unmarked_table` is the name earlier versions gave the table (the chain lower-cased): the
    first apply removes it in the same transaction when it is one of ours, and cleanup too. A
    table is only ever removed when `is_our_table` says it is ours, and the first apply
    refuses to replace a table of our name that is not.

    `generation` reads the nf_tables generation where `run` acts (nft_generation.py); with it
    the look right after our own write is proven by arithmetic instead of a listing.
    """

    def __init__(
        self,
        *,
        run: CommandRunner,
        table: str = DEFAULT_TABLE,
        unmarked_table: str | None = None,
        generation: Callable[[], int | None] | None = None,
    ) -> None:
        self._run = run
        self._table = table
        self._unmarked = unmarked_table if unmarked_table != table else None
        self._migrated = self._unmarked is None
        self._first_apply = True
        self._generation = generation or (lambda: None)
        self._desired: tuple[DesiredRules, tuple[IntervalSet, ...]] | None = None
        self._tables: dict[int, Table] = {}  # the last plan's table in each slot
        self._texts = ElementTexts()
        self._view: tuple[Table, str] | None = None
        # What observe() last read, and the generation read just before; None: unknown.
        self._seen: tuple[Table | None, int | None] | None = None
        # Our last write, when proven whole, and the generation it left (see _proven).
        self._written: tuple[Table, int] | None = None

    @property
    def name(self) -> str:
        return "nftables"

    @property
    def nf_tables(self) -> bool:
        return True

    def _model(self, desired: DesiredRules, slot: int = 0) -> Table:
        # A sync asks for the same plan's table several times (view, skeleton, scripts); its
        # sets (merged, rendered) are built once whichever slot they are written in.
        memo = self._desired
        if memo is None or memo[0] is not desired:
            memo = self._desired = (desired, desired_sets(desired, self._texts))
            self._tables = {}
        table = self._tables.get(slot)
        if table is None:
            table = self._tables[slot] = desired_table(
                desired, self._table, slot=slot, sets=memo[1]
            )
        return table

    def render(self, desired: DesiredRules) -> str:
        return replace_script(self._model(desired))

    def _text_listing(self, table: str) -> str | None:
        """`nft -t list table inet TABLE`: nft's text (the only one showing the table comment),
        terse (no set elements: whose table it is never depends on them)."""
        return self._list(["nft", "-t", "list", "table", "inet", table])

    def _list(self, args: list[str]) -> str | None:
        result = self._run(args)
        if result.returncode != 0:
            # A missing table is a legitimate state (first start, after cleanup, after tampering).
            if "No such file or directory" in result.stderr:
                return None
            raise ApplyError(f"{' '.join(args)}: {result.error_line}")
        return result.stdout

    def _look(self, *, terse: bool = False) -> tuple[Table | None, int | None]:
        """The kernel's table, and the generation read before listing it (a commit racing
        the listing then shows as a generation that moved past it).

        `terse` leaves set elements out (`nft -t`): enough to choose how to write, since an
        in-place update flushes every set anyway, and 10,000 elements cheaper.
        """
        generation = self._generation()
        return self._kernel_table(terse=terse), generation

    def _kernel_table(self, *, terse: bool = False) -> Table | None:
        """The kernel's table as a model, from `nft -j list table`; None when there is none."""
        args = ["nft", "-j", *(["-t"] if terse else []), "list", "table", "inet", self._table]
        listing = self._list(args)
        if listing is None:
            return None
        try:
            return parse_listing(listing)
        except ListingError as error:
            return unreadable(self._table, str(error))

    def _ours(self, table: str) -> bool:
        listing = self._text_listing(table)
        return listing is not None and is_our_table(listing)

    def apply(self, desired: DesiredRules) -> None:
        # The table the last observe() read decides the way in: a sync has just observed (or
        # verified its last write), and a table changed since then fails the update or the
        # verification after it, which then writes again from a fresh listing.
        seen, self._seen, self._written = self._seen, None, None
        kernel, listed_at = seen if seen is not None else self._look(terse=True)
        # Ours to update in place: we wrote it since start, or it carries our marker.
        marked = not self._first_apply
        if self._first_apply and kernel is not None:
            text = self._text_listing(self._table) or ""
            if not is_our_table(text):
                # Our name on a table we did not write: refuse rather than replace it.
                raise ApplyError(
                    f"table inet {self._table} exists but was not written by ip-masq-agent"
                    " (no marker comment); rename or remove it, or pick another --masq-chain"
                )
            marked = is_marked(text)
        wanted = self._model(desired)
        migrate = not self._migrated and self._unmarked is not None and self._ours(self._unmarked)
        before = self._generation()
        # The sets that act, less any a swap cut short left, and the slot they are in, when
        # ours to update in place (None: replace whole).
        stale = orphans(kernel) if kernel is not None else ()
        acting = without(kernel, stale) if kernel is not None else None
        slot = slot_in_use(acting) if acting is not None and marked and not migrate else None
        if acting is not None and slot is not None and skeleton(acting) == skeleton(wanted):
            # The table and its chain stay; the sets are made anew in the other slot.
            swapped = self._model(desired, 1 - slot)
            if self._swap(swapped, acting, stale):
                self._first_apply = False
                # Proven only when the table we decided from was still the kernel's.
                self._proven(swapped, before, 2 if listed_at == before else None)
                return
            # Changed since that listing (e.g. deleted): decide again from the kernel's table.
            kernel, listed_at = self._look(terse=True)
            before = listed_at
        commits = 1
        if kernel is None:
            # Created in two steps, sets first: a chain created in the same transaction as
            # the sets it looks up answers a moment before they match. Until the chain comes
            # the new table NATs nothing, as no table did (nor does it hide an old one).
            self._nft(definition(wanted, chains=False))
            script = definition(wanted, sets=False)
            commits = 2 if listed_at == before else 0  # proven only from the listed absence
        else:
            script = replace_script(wanted)  # the whole table, whatever was there before
        if migrate:
            # The old table goes in the same transaction the new one comes in: no moment
            # without masquerading, none with both.
            script += f"delete table inet {self._unmarked}\n"
        self._nft(script)
        self._migrated = True
        self._first_apply = False
        self._proven(wanted, before, commits or None)

    def _swap(self, table: Table, current: Table, stale: tuple[IntervalSet, ...]) -> bool:
        """`current` rewritten as `table` (its sets in the other slot, where `stale` goes
        first); False when the kernel refused a step: it no longer held `current`, and a
        fresh look decides again."""
        for script in swap_scripts(table, current, stale):
            if self._run(["nft", "-f", "-"], stdin=script).returncode != 0:
                return False
        return True

    def _proven(self, wanted: Table, before: int | None, commits: int | None) -> None:
        """Remember `wanted` as the kernel's table when the generation proves it.

        Why that proves it: every committed nf_tables transaction, ours or anyone's, moves the
        namespace's generation by one, and each `nft -f` is one transaction (atomic: all of
        it or nothing). If the generation moved by exactly our own commits since `before`,
        no other writer committed in between, so the kernel holds the result of our scripts
        applied to a table we knew: the whole table for a replacing script, and for a swap
        our listed table (same skeleton) with new sets in place of its old ones. observe()
        then checks only that the generation still stands there: one netlink round trip
        instead of listing 10,000 elements and parsing them.
        """
        after = self._generation()
        if before is None or after is None or commits is None:
            return
        if after == (before + commits) & 0xFFFFFFFF:
            self._written = (wanted, after)

    def _nft(self, script: str) -> None:
        result = self._run(["nft", "-f", "-"], stdin=script)
        if result.returncode != 0:
            raise ApplyError(f"nft -f (table inet {self._table}): {result.error_line}")

    def _view_of(self, table: Table) -> str:
        # The expected view and a proven observe() are the same string: rendered once.
        memo = self._view
        if memo is None or memo[0] is not table:
            memo = self._view = (table, view(table))
        return memo[1]

    def expected(self, desired: DesiredRules) -> str:
        return self._view_of(self._model(desired))

    def observe(self) -> str:
        """The kernel's table as the model sees it: any change to what the rules do shows."""
        written = self._written
        if written is not None:
            generation = self._generation()
            if generation == written[1]:  # nothing committed since our proven write
                self._seen = (written[0], generation)
                return self._view_of(written[0])
            self._written = None
        self._seen = self._look()
        return view(self._seen[0])

    def cleanup(self) -> None:
        self._seen = self._written = None
        for table in (self._table, self._unmarked):
            if table is None or not self._ours(table):
                continue  # absent, or a node table that merely shares the name: left alone
            result = self._run(["nft", "-f", "-"], stdin=ensure_then_delete(table))
            if result.returncode != 0:
                raise ApplyError(f"nft delete table inet {table}: {result.error_line}")
