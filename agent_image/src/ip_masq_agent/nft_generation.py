"""The nf_tables ruleset generation: one netlink round trip says whether anything changed."""

import socket
import struct
from typing import Final

# From linux/netlink.h, linux/netfilter/nfnetlink.h and linux/netfilter/nf_tables.h.
NETLINK_NETFILTER: Final = 12
NFNL_SUBSYS_NFTABLES: Final = 10
NFT_MSG_GETGEN: Final = 16
NFTA_GEN_ID: Final = 1
NLM_F_REQUEST: Final = 1
NLMSG_ERROR: Final = 2
_NLMSGHDR: Final = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_NFGENMSG: Final = struct.Struct("=BBH")  # family, version, resource id
_NLATTR: Final = struct.Struct("=HH")  # length, type


def generation_request(sequence: int = 1) -> bytes:
    """NFT_MSG_GETGEN for every family: the kernel answers with the current generation id."""
    body = _NFGENMSG.pack(socket.AF_UNSPEC, 0, 0)
    kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST, sequence, 0) + body


def parse_generation(reply: bytes) -> int | None:
    """NFTA_GEN_ID out of the kernel's answer; None for an error or anything unexpected."""
    if len(reply) < _NLMSGHDR.size + _NFGENMSG.size:
        return None
    length, kind, _, _, _ = _NLMSGHDR.unpack_from(reply)
    if kind == NLMSG_ERROR or length > len(reply):
        return None
    offset = _NLMSGHDR.size + _NFGENMSG.size
    while offset + _NLATTR.size <= length:
        attr_length, attr_type = _NLATTR.unpack_from(reply, offset)
        if attr_length < _NLATTR.size:
            return None
        # The top bits of the type are flags (nested, byte order), not part of the number.
        if attr_type & 0x3FFF == NFTA_GEN_ID and attr_length >= _NLATTR.size + 4:
            return int(struct.unpack_from("!I", reply, offset + _NLATTR.size)[0])
        offset += (attr_length + 3) & ~3
    return None


def read_generation() -> int | None:
    """The generation of this process's network namespace; None when it cannot be read.

    Every committed nf_tables transaction (nft, iptables-nft, kube-proxy) bumps it, so an
    unchanged number means an unchanged ruleset, ours included.
    """
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
            sock.settimeout(1.0)
            sock.send(generation_request())
            return parse_generation(sock.recv(4096))
    except OSError:
        return None
