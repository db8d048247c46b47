"""Skip re-reading an nf_tables-based backend's rules while the ruleset generation stands still."""

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.commands import CommandResult, CommandRunner
from ip_masq_agent.rules import DesiredRules


class WriteCounter:
    """A CommandRunner counting the nf_tables transactions it committed.

    Each successful `nft -f` or `*-restore` is one transaction: it moves the generation by
    exactly one (a failed one commits nothing).
    """

    def __init__(self, run: CommandRunner) -> None:
        self._run = run
        self.commits = 0

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        result = self._run(args, stdin=stdin)
        tool = args[0] if args else ""
        if result.returncode == 0 and (
            tool.endswith("-restore") or (tool == "nft" and "-f" in args)
        ):
            self.commits += 1
        return result


@runtime_checkable
class KnowsItsLastRead(Protocol):
    """A backend whose apply reads the kernel first, and can skip that read when told that
    nothing changed since it last read or wrote (iptables: its `-save` before `-restore`)."""

    def apply_unchanged(self, desired: DesiredRules) -> None: ...


class GenerationCachedBackend:
    """Any backend whose rules live in nf_tables (nftables, iptables-nft), observed cheaply.

    Every committed nf_tables transaction, ours or anyone's, bumps the namespace's generation
    number; while it stands still the last listing is still true. An idle resync then costs
    one netlink round trip and starts no process. `generation` must read the namespace the
    wrapped backend's tools act in (the agent: its own); None from it means "unknown: list".

    `writes`, when given, counts the transactions of the wrapped backend's tools, and its
    apply must read the kernel before writing (iptables: `-save`, then `-restore` built from
    it). A write is then proven without listing: if the generation moved by exactly our own
    commits from before the apply to after it, no other writer committed in between, so
    each write acted on the very state the apply had just read and left what `expected`
    says (the write is all or nothing). Any other commit in that window lists as before.

    When the generation still stands where the last look (a listing, or a proven write) left
    it, the kernel is what the wrapped backend last read or wrote: its apply may skip the
    read (`KnowsItsLastRead`), and the proof above holds as if it had read it again.
    """

    def __init__(
        self,
        backend: Backend,
        generation: Callable[[], int | None],
        writes: WriteCounter | None = None,
    ) -> None:
        self._backend = backend
        self._generation = generation
        self._writes = writes
        self._expected: tuple[DesiredRules, str] | None = None  # the plan's, shared with a proof
        self._listed: tuple[int, str] | None = None  # (generation, listing) of the last look

    @property
    def name(self) -> str:
        return self._backend.name

    @property
    def nf_tables(self) -> bool:
        return self._backend.nf_tables

    def render(self, desired: DesiredRules) -> str:
        return self._backend.render(desired)

    def apply(self, desired: DesiredRules) -> None:
        listed, self._listed = self._listed, None  # our own write is a change: look again
        writes = self._writes
        if writes is None:
            self._backend.apply(desired)
            return
        before, commits = self._generation(), writes.commits
        backend = self._backend
        unchanged = before is not None and listed is not None and listed[0] == before
        if unchanged and isinstance(backend, KnowsItsLastRead):
            backend.apply_unchanged(desired)
        else:
            backend.apply(desired)
        after = self._generation()
        ours = writes.commits - commits
        if before is not None and after is not None and after == (before + ours) & 0xFFFFFFFF:
            self._listed = (after, self.expected(desired))  # proven: see above

    def expected(self, desired: DesiredRules) -> str:
        memo = self._expected
        if memo is None or memo[0] is not desired:
            memo = self._expected = (desired, self._backend.expected(desired))
        return memo[1]

    def observe(self) -> str:
        # Read before listing: a change racing the listing moves the number past the cache.
        # Never the number after our own write: another writer may have committed between
        # our transaction and that read, and its result would pass for ours.
        generation = self._generation()
        if generation is not None and self._listed is not None and self._listed[0] == generation:
            return self._listed[1]
        listing = self._backend.observe()
        self._listed = None if generation is None else (generation, listing)
        return listing

    def cleanup(self) -> None:
        self._backend.cleanup()
