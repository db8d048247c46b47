"""Skip re-reading an nf_tables-based backend's rules while the ruleset generation stands still."""

from collections.abc import Callable

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.rules import DesiredRules


class GenerationCachedBackend:
    """Any backend whose rules live in nf_tables (nftables, iptables-nft), observed cheaply.

    Every committed nf_tables transaction, ours or anyone's, bumps the namespace's generation
    number; while it stands still the last listing is still true. An idle resync then costs
    one netlink round trip and starts no process. `generation` must read the namespace the
    wrapped backend's tools act in (the agent: its own); None from it means "unknown: list".
    """

    def __init__(self, backend: Backend, generation: Callable[[], int | None]) -> None:
        self._backend = backend
        self._generation = generation
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
        self._listed = None  # our own write is a change like any other: look again
        self._backend.apply(desired)

    def expected(self, desired: DesiredRules) -> str:
        return self._backend.expected(desired)

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
