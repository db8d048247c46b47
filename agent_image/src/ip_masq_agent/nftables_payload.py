"""The nftables payload for a DesiredRules plan: one `inet` table replaced in one transaction.

The table itself is a typed model (backends/nftables/model.py) and its scripts are written
from it (backends/nftables/script.py); this module is what the CLI, the bench and other
backends reach for: the names, the whole payload, the cleanup script.
"""

from ip_masq_agent.backends.nftables.model import desired_table
from ip_masq_agent.backends.nftables.names import (
    DEFAULT_TABLE,
    TABLE_MARKER,
    set_name,
    table_name,
    unmarked_table_name,
)
from ip_masq_agent.backends.nftables.script import ensure_then_delete, replace_script
from ip_masq_agent.rules import DesiredRules

__all__ = [
    "DEFAULT_TABLE",
    "TABLE_MARKER",
    "render_nftables_cleanup",
    "render_nftables_payload",
    "set_name",
    "table_name",
    "unmarked_table_name",
]


def render_nftables_payload(desired: DesiredRules, *, table: str = DEFAULT_TABLE) -> str:
    """The `nft -f` script: create-if-missing, delete, redefine the table, all one transaction."""
    return replace_script(desired_table(desired, table))


def render_nftables_cleanup(*, table: str = DEFAULT_TABLE) -> str:
    """The `nft -f` script removing the table, valid whether or not the table exists.

    Only for a table `is_our_table` accepted: the leading `table` line would otherwise keep a
    foreign table as it is, but the `delete` would not.
    """
    return ensure_then_delete(table)
