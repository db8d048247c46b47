"""Reading the nf_tables generation out of a netlink reply."""

import struct
from collections.abc import Callable, Sequence

from ip_masq_agent.backends.generation_cache import GenerationCachedBackend, WriteCounter
from ip_masq_agent.commands import CommandResult
from ip_masq_agent.nft_generation import (
    NFNL_SUBSYS_NFTABLES,
    NFT_MSG_GETGEN,
    NLMSG_ERROR,
    generation_request,
    parse_generation,
)
from ip_masq_agent.rules import DesiredRules


def _reply(*attributes: tuple[int, bytes], kind: int = NFNL_SUBSYS_NFTABLES << 8) -> bytes:
    body = struct.pack("=BBH", 0, 0, 0)
    for attr_type, value in attributes:
        attr = struct.pack("=HH", 4 + len(value), attr_type) + value
        body += attr + bytes(-len(attr) % 4)
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 1, 0) + body


def test_request_is_a_getgen_for_every_family() -> None:
    request = generation_request(7)
    length, kind, flags, sequence, _ = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags, sequence) == (20, (10 << 8) | NFT_MSG_GETGEN, 1, 7)


def test_generation_id_is_found_among_other_attributes() -> None:
    reply = _reply((2, struct.pack("!I", 99)), (1, struct.pack("!I", 4242)), (3, b"nft\0"))
    assert parse_generation(reply) == 4242


def test_errors_and_garbage_give_none() -> None:
    assert parse_generation(_reply(kind=NLMSG_ERROR)) is None
    assert parse_generation(b"\x00" * 8) is None
    assert parse_generation(_reply((2, struct.pack("!I", 1)))) is None
    assert parse_generation(_reply((0, b""))[:-1]) is None


class _ListingBackend:
    """A backend whose 'kernel' is a string; apply writes it, observe lists it."""

    name = "nftables"
    nf_tables = True

    def __init__(self) -> None:
        self.kernel = ""
        self.listings = 0

    def render(self, desired: DesiredRules) -> str:
        return repr(desired)

    def expected(self, desired: DesiredRules) -> str:
        return self.render(desired)

    def apply(self, desired: DesiredRules) -> None:
        self.kernel = self.render(desired)

    def observe(self) -> str:
        self.listings += 1
        return self.kernel

    def cleanup(self) -> None:
        self.kernel = ""


def test_the_cache_never_outlives_our_own_write() -> None:
    inner = _ListingBackend()
    generations = iter([7, 7, 7, 7])  # a number that did not move (or moved and came back)
    cached = GenerationCachedBackend(inner, lambda: next(generations))
    assert cached.observe() == ""
    assert cached.observe() == "" and inner.listings == 1  # unchanged generation: no listing
    desired = DesiredRules(chain="IP-MASQ-AGENT", families=())
    cached.apply(desired)
    # After our write the kernel is listed again, never taken from before it.
    assert cached.observe() == cached.expected(desired)
    assert inner.listings == 2


class _Kernel:
    """A 'kernel' of one string and a generation that every committed restore moves."""

    def __init__(self) -> None:
        self.generation = 40
        self.text = ""
        self.listings = 0

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        if args[0].endswith("-restore"):
            self.text = stdin or ""
            self.generation += 1
        else:
            self.listings += 1
        return CommandResult(tuple(args), 0, self.text, "")


class _ReadThenWrite:
    """A backend whose apply reads the kernel, then writes: as the iptables backends do."""

    name = "iptables-nft"
    nf_tables = True

    def __init__(self, run: WriteCounter, after_write: Callable[[], None] = lambda: None) -> None:
        self._run = run
        self._after_write = after_write

    def render(self, desired: DesiredRules) -> str:
        return repr(desired)

    def expected(self, desired: DesiredRules) -> str:
        return self.render(desired)

    def apply(self, desired: DesiredRules) -> None:
        self._run(["iptables-nft-save"])
        self._run(["iptables-nft-restore"], stdin=self.render(desired))
        self._after_write()

    def observe(self) -> str:
        return self._run(["iptables-nft-save"]).stdout

    def cleanup(self) -> None:
        pass


def test_a_write_moving_the_generation_by_its_own_commits_is_not_listed_again() -> None:
    kernel = _Kernel()
    writes = WriteCounter(kernel)
    cached = GenerationCachedBackend(_ReadThenWrite(writes), lambda: kernel.generation, writes)
    desired = DesiredRules(chain="IP-MASQ-AGENT", families=())
    cached.apply(desired)
    listings = kernel.listings
    assert cached.observe() == cached.expected(desired) == kernel.text
    assert kernel.listings == listings  # proven: no listing after the write


def test_another_commit_in_the_write_window_is_listed() -> None:
    kernel = _Kernel()
    writes = WriteCounter(kernel)

    def someone_else() -> None:
        kernel.text, kernel.generation = "their rules", kernel.generation + 1

    backend = _ReadThenWrite(writes, after_write=someone_else)
    cached = GenerationCachedBackend(backend, lambda: kernel.generation, writes)
    desired = DesiredRules(chain="IP-MASQ-AGENT", families=())
    cached.apply(desired)
    assert cached.observe() == "their rules" != cached.expected(desired)


class _ReadUnlessUnchanged(_ReadThenWrite):
    """As the iptables backends: the read before the write is skipped when told nothing moved."""

    def apply_unchanged(self, desired: DesiredRules) -> None:
        self._run(["iptables-nft-restore"], stdin=self.render(desired))
        self._after_write()


def _two_plans() -> tuple[DesiredRules, DesiredRules]:
    return (
        DesiredRules(chain="IP-MASQ-AGENT", families=()),
        DesiredRules(chain="IP-MASQ-CHANGED", families=()),
    )


def test_an_edit_after_a_proven_write_skips_the_read_and_is_still_proven() -> None:
    kernel = _Kernel()
    writes = WriteCounter(kernel)
    cached = GenerationCachedBackend(
        _ReadUnlessUnchanged(writes), lambda: kernel.generation, writes
    )
    first, second = _two_plans()
    cached.apply(first)
    listings = kernel.listings
    assert listings == 1  # the first write read the kernel first
    cached.apply(second)  # nothing moved since our proven write: no read
    assert cached.observe() == cached.expected(second) == kernel.text
    assert kernel.listings == listings


def test_an_edit_after_another_writers_commit_reads_first() -> None:
    kernel = _Kernel()
    writes = WriteCounter(kernel)
    cached = GenerationCachedBackend(
        _ReadUnlessUnchanged(writes), lambda: kernel.generation, writes
    )
    first, second = _two_plans()
    cached.apply(first)
    kernel.text, kernel.generation = "their rules", kernel.generation + 1
    listings = kernel.listings
    cached.apply(second)
    assert kernel.listings == listings + 1  # the generation moved: read again before writing
    assert cached.observe() == cached.expected(second)


def test_an_edit_after_a_listing_that_still_stands_skips_the_read() -> None:
    kernel = _Kernel()
    writes = WriteCounter(kernel)
    cached = GenerationCachedBackend(
        _ReadUnlessUnchanged(writes), lambda: kernel.generation, writes
    )
    second = _two_plans()[1]
    kernel.text, kernel.generation = "their rules", kernel.generation + 1
    assert cached.observe() == "their rules"  # a look, at this generation
    listings = kernel.listings
    cached.apply(second)
    assert kernel.listings == listings
    assert cached.observe() == cached.expected(second)
