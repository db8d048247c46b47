"""What the nftables backend names: its table (per `--masq-chain`), the marker it carries, and
each family's set under the two names it takes in turn (model.IntervalSet's slot)."""

from typing import Final

from ip_masq_agent.rules import Family

DEFAULT_TABLE: Final = "ip-masq-agent"
# Every table the agent names starts so: no node table (`filter`, `nat`, `firewalld`) can be
# taken for ours whatever --masq-chain says. The default chain keeps the table it always had.
TABLE_PREFIX: Final = "ip-masq-agent"
# Written as the table's comment: a table is removed only when it carries this (or is exactly
# what versions before the marker wrote); a table that only shares the name is left alone.
TABLE_MARKER: Final = "ip-masq-agent: owned by the node agent; removed by its cleanup"


def table_name(chain: str) -> str:
    """The nft table for `--masq-chain`: the default IP-MASQ-AGENT owns `inet ip-masq-agent`."""
    lowered = chain.lower()
    return DEFAULT_TABLE if lowered == DEFAULT_TABLE else f"{TABLE_PREFIX}-{lowered}"


def unmarked_table_name(chain: str) -> str:
    """The name versions before the prefix used: the chain lower-cased (`filter` for FILTER)."""
    return chain.lower()


# The two names a family's set takes in turn (model.IntervalSet's slot): the first is the
# one it always had.
_SLOT_SUFFIXES: Final = ("", "_b")
_FAMILIES: Final[tuple[Family, ...]] = ("ipv4", "ipv6")


def set_name(family: Family, slot: int = 0) -> str:
    """The interval set holding one family's non-masquerade destinations, in `slot`."""
    return in_slot(f"nomasq_{family}", slot)


def slot_of(name: str) -> tuple[str, int]:
    """A kernel set name as (its slot-0 name, slot); a name not ours is itself, in slot 0."""
    for family in _FAMILIES:
        for slot in range(len(_SLOT_SUFFIXES)):
            if name == set_name(family, slot):
                return set_name(family), slot
    return name, 0


def in_slot(name: str, slot: int) -> str:
    """The kernel name of the set named `name` (its slot-0 name) in `slot`."""
    return f"{name}{_SLOT_SUFFIXES[slot]}"
