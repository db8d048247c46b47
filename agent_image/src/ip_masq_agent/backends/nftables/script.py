"""`nft -f` scripts written from a Table model: create, replace, swap sets, remove.

Every script is one transaction. Each is built from the model's values; none is cut out of
another script.
"""

from typing import Final

from ip_masq_agent.backends.nftables.model import Chain, IntervalSet, Table, elements_text
from ip_masq_agent.backends.nftables.names import TABLE_MARKER

_PRIORITY_NAMES: Final = {100: "srcnat"}


def _set_lines(nft_set: IntervalSet, head: str = "\tset") -> list[str]:
    lines = [f"{head} {nft_set.kernel_name} {{", f"\t\ttype {nft_set.type}"]
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


def swap_scripts(
    table: Table, current: Table, orphans: tuple[IntervalSet, ...] = ()
) -> tuple[str, str]:
    """Rewrite `current`, which has `table`'s skeleton, as `table`: two transactions.

    `table`'s sets are in the other slot than `current`'s (model.IntervalSet). The first
    script makes them, elements and all; the second points the chain at them (flushed and
    refilled) and deletes `current`'s sets.

    Why not refill the sets in place: nft then reads every element of the table before it
    adds any, and the kernel frees the old ones inside the transaction; a set made anew
    costs neither (at 50,000 CIDRs, 0.34 s of CPU against 0.43, the old set freed after the
    commit). Why two transactions: a chain must never look up a set made in its own
    transaction (a few pod-to-pod flows per hundred re-creations came out masqueraded on
    6.18); until the second commits the chain looks up the old sets, after it the new ones,
    already complete. `add set` (not `create set`, which costs nft 0.05 s more and which
    1.0.6 writes without its elements) would merge into a set of that name made by another
    writer since our look; such a writer also moves the generation, so the write is not
    proven and the look after it shows the difference (Reconciler writes again).

    `orphans` are sets in the new sets' slot that no rule looks up (a swap cut short): the
    first transaction deletes each before it makes the set anew, for no more than the make.
    """
    name = table.name
    made = [f"delete set inet {name} {orphan.kernel_name}" for orphan in orphans]
    for nft_set in table.sets:
        made.extend(_set_lines(nft_set, f"add set inet {name}"))
    swapped: list[str] = []
    for chain in table.chains:
        swapped.append(f"flush chain inet {name} {chain.name}")
        swapped.extend(f"add rule inet {name} {chain.name} {rule.text}" for rule in chain.rules)
    swapped.extend(f"delete set inet {name} {old.kernel_name}" for old in current.sets)
    return "\n".join(made) + "\n", "\n".join(swapped) + "\n"
