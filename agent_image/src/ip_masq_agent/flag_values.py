"""Flag values in Go's syntax, each parsed strictly; an error names the flag."""

import re
from typing import Final

from ip_masq_agent.duration import parse_go_duration
from ip_masq_agent.quoting import quoted
from ip_masq_agent.rules import Family, PortRange

# A letter first: nft refuses a table name starting with a digit, iptables one starting with "-".
_CHAIN_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,27}")
# Names the agent must never own: `cleanup` flushes and deletes its chain, and the payload
# declares it, so a built-in chain or a standard target would hit rules of the whole node.
_RESERVED_CHAINS: Final = frozenset(
    {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}
    | {"ACCEPT", "DROP", "RETURN", "QUEUE", "MASQUERADE", "SNAT", "DNAT", "REDIRECT"}
)
_PORT_RANGE: Final = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")
_LEVEL: Final = re.compile(r"[+-]?[0-9]{1,10}")
# Each range is a rule per protocol (and a statistic match) in the chain: a handful is what
# anyone splits the port space into; 20,000 would make every new connection walk 60,000 rules.
MAX_TO_PORTS_RANGES: Final = 64


class FlagError(ValueError):
    """A command line that cannot be run; the message is one line (exit status 2)."""


def parse_bool(text: str, flag: str) -> bool:
    """Go's strconv.ParseBool, which the flag package uses for `--flag=value`."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise FlagError(f"invalid boolean value {quoted(text)} for flag -{flag}")


def parse_to_ports(text: str) -> tuple[PortRange, ...]:
    """`1024-29999,32768-65535` (single ports allowed); empty means no port restriction."""
    if text == "":
        return ()
    parts = text.split(",")
    if len(parts) > MAX_TO_PORTS_RANGES:
        raise FlagError(
            f"invalid value for flag -to-ports: {len(parts)} ranges, at most {MAX_TO_PORTS_RANGES}"
        )
    ranges = []
    for part in parts:
        # ASCII digits only, as Go's strconv: int() would also take " 80" or full-width digits.
        match = _PORT_RANGE.fullmatch(part)
        if match is None:
            raise FlagError(
                f"invalid value {quoted(text)} for flag -to-ports:"
                f" {quoted(part)} is not a port range"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if not 1 <= first <= last <= 65535:
            raise FlagError(
                f"invalid value {quoted(text)} for flag -to-ports:"
                f" {quoted(part)} is not within 1-65535"
            )
        ranges.append(PortRange(first, last))
    return tuple(ranges)


def parse_chain(text: str) -> str:
    """A --masq-chain name: ASCII, a letter first, never a built-in chain or target."""
    # The chain name lands in restore payloads, argv and the nft table name: ASCII only
    # (str.isalnum would let through letters and digits of any script).
    if not _CHAIN_NAME.fullmatch(text):
        raise FlagError(
            f"invalid value {quoted(text)} for flag -masq-chain:"
            " want a letter, then up to 27 of [A-Za-z0-9_-]"
        )
    if text.upper() in _RESERVED_CHAINS:
        raise FlagError(
            f"invalid value {quoted(text)} for flag -masq-chain: a built-in chain or target name"
        )
    return text


def parse_family(text: str) -> Family:
    """`ipv4` or `ipv6`."""
    if text not in ("ipv4", "ipv6"):
        raise FlagError(f"invalid value {quoted(text)} for flag -family: want ipv4 or ipv6")
    return "ipv4" if text == "ipv4" else "ipv6"


def parse_health_timeout(text: str) -> float:
    """A positive Go duration, in seconds."""
    try:
        seconds = parse_go_duration(text)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise FlagError(
            f"invalid value {quoted(text)} for flag -health-timeout: want a positive duration"
            " such as 30s"
        )
    return seconds


def parse_verbosity(text: str) -> int:
    """klog's -v level: a 32-bit integer."""
    # klog's strconv.ParseInt(text, 10, 32): a sign and ASCII digits, nothing else (int()
    # would also take " 2", "1_0" and digits of any script).
    if not _LEVEL.fullmatch(text) or not -(2**31) <= int(text) < 2**31:
        raise FlagError(f"invalid value {quoted(text)} for flag -v: want an integer")
    return int(text)


_ADDRESS: Final = re.compile(r"(.*):([0-9]{1,5})")  # ASCII digits only, as Go's net package


def split_address(address: str, flag: str = "health-address") -> tuple[str, int]:
    """`host:port`, `:port` or `[v6]:port` -> (host, port); ValueError naming the flag."""
    match = _ADDRESS.fullmatch(address)
    if match is None or int(match.group(2)) > 65535:
        raise ValueError(f"invalid value {address!r} for flag -{flag}: want HOST:PORT")
    return match.group(1).strip("[]") or "0.0.0.0", int(match.group(2))
