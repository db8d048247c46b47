"""Reading the nf_tables generation out of a netlink reply."""

import struct

from ip_masq_agent.nft_generation import (
    NFNL_SUBSYS_NFTABLES,
    NFT_MSG_GETGEN,
    NLMSG_ERROR,
    generation_request,
    parse_generation,
)


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
