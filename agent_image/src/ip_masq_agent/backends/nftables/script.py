"""`nft -f` scripts written from a Table model: create, replace, update in place, remove.

Every script is one transaction. Each is built from the model's values; none is cut out of
another script.
"""

from typing import Final

from ip_masq_agent.backends.nftables.model import Chain, IntervalSet, Table, elements_text
from ip_masq_agent.backends.nftables.names import TABLE_MARKER

_PRIORITY_NAMES: Final = {100: "srcnat"}


def _set_lines(nft_set: IntervalSet) -> list[str]:
    lines = [f"\tset {nft_set.name} {{", f"\t\ttype {nft_set.type}"]
    if nft_set.flags:
        lines.append(f"\t\tflags {', '.join(nft_set.flags)}")
    elements = elements_text(nft_set)
    if elements:
        lines.append(f"\t\telements = {{ {elements} }}")
    lines.append("\t}")
    return lines


def _chain_header(chain: Chain) -> str:
    priority = _PRIORITY_NAMES.get(chain.priority, str(chain.priority))
    return f"type {chain.type} hook {chain.hook} priority {priority}; policy {chain.policy};"


def _chain_lines(chain: Chain) -> list[str]:
    lines = [f"\tchain {chain.name} {{", f"\t\t{_chain_header(chain)}"]
    lines.extend(f"\t\t{rule.text}" for rule in chain.rules)
    lines.append("\t}")
    return lines


def definition(table: Table, *, sets: bool = True, chains: bool = True) -> str:
    """`table inet NAME { ... }` with our marker, and the sets and/or the chains asked for."""
    lines = [f"table inet {table.name} {{", f'\tcomment "{TABLE_MARKER}"']
    for nft_set in table.sets if sets else ():
        lines.extend(_set_lines(nft_set))
    for chain in table.chains if chains else ():
        lines.extend(_chain_lines(chain))
    lines.append("}")
    return "\n".join(lines) + "\n"


def ensure_then_delete(name: str) -> str:
    """Create-if-missing then delete: valid whether or not the table exists.

    Only for a table that is ours (or absent): the `table` line keeps a foreign table as it
    is, but the `delete` would not.
    """
    return f"table inet {name} {{}}\ndelete table inet {name}\n"


def replace_script(table: Table) -> str:
    """Create-if-missing, delete, redefine the table: one transaction whatever is there.

    The leading empty `table` makes the `delete` valid on a node where the table does not exist
    yet, so first apply, re-apply and repair are one and the same script.
    """
    return ensure_then_delete(table.name) + definition(table)


def update_script(table: Table) -> str:
    """Rewrite, in place, a table that already has this table's skeleton.

    Why not the replacing script every time: a table deleted and re-created in one
    transaction has a moment at commit when the new chain already answers but its new set
    does not yet match (on 6.18 a few pod-to-pod flows per hundred re-applies came out
    masqueraded). Here the table, its sets and its chain stay: only their contents are
    flushed and written again, still one transaction (kube-proxy's nftables proxier does
    the same: flush, then add the same objects again).
    """
    name = table.name
    lines: list[str] = []
    for nft_set in table.sets:
        lines.append(f"flush set inet {name} {nft_set.name}")
        elements = elements_text(nft_set)
        if elements:
            lines.append(f"add element inet {name} {nft_set.name} {{ {elements} }}")
    for chain in table.chains:
        lines.append(f"flush chain inet {name} {chain.name}")
        lines.extend(f"add rule inet {name} {chain.name} {rule.text}" for rule in chain.rules)
    return "\n".join(lines) + "\n"
