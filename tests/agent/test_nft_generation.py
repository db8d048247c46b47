"""Reading the nf_tables generation out of a netlink reply."""

import struct

from ip_masq_agent.backends.generation_cache import GenerationCachedBackend
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
