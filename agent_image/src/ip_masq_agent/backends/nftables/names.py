"""What the nftables backend names: its table (per `--masq-chain`) and the marker it carries."""

from typing import Final

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
