"""What a config's CIDR lists may plan: checks across both lists, on top of each CIDR's syntax.

One place decides each of them for the agent, the component (which checks its ConfigMap with
the agent's parser) and the policies (which judge any ConfigMap with it): a CIDR in both lists,
an exception that changes nothing, a plan too large for the agent's memory, and a list that
exempts every destination of a family from masquerading.
"""

from typing import Final

from ip_masq_agent.config_error import ConfigError
from ip_masq_agent.contract import BACKEND_AUTO, BACKEND_NFTABLES
from ip_masq_agent.prefixes import BITS, Prefix, PrefixSet, planned_cidr_count

# A ConfigMap holds at most 1 MiB of data. Anything larger is not a ConfigMap the agent should
# trust, and pure-Python YAML would spend many seconds on it while the sync loop waits.
MAX_CONFIG_BYTES: Final = 1024 * 1024
# The most destination CIDRs a config may plan, both families together, exceptions expanded
# (an exception splits its kept CIDR into up to ~128): one rule or set element each, held
# under the DaemonSet's memory limit change after change (the README's "Reliability and
# security" gives the measured figures). The iptables backends hold 10,000 IPv4 + 10,000 IPv6
# (iptables-nft peaks ~125 MiB at 50,000 and takes ~6 s an edit: one rule per CIDR); nftables
# holds 50,000 (a set element per CIDR, ~0.8 s an edit), which is also about what a 1 MiB
# ConfigMap can list in one family.
MAX_PLANNED_CIDRS: Final = 20_000
MAX_PLANNED_CIDRS_NFTABLES: Final = 50_000
# CIDRs named in the every-destination error; more are counted.
_NAMED_CIDRS: Final = 4


def limit_for(backend: str) -> int:
    """THE planned-CIDR limit of a backend (a `--backend` name, or the one `auto` detected).

    The agent asks it with the backend it runs, the component with its `backend` argument and
    the policy with the DaemonSet's `--backend`: `auto` may pick an iptables flavour, so only
    `nftables` named outright gets the larger limit.
    """
    return MAX_PLANNED_CIDRS_NFTABLES if backend == BACKEND_NFTABLES else MAX_PLANNED_CIDRS


def _what_to_do(backend: str) -> str:
    if backend == BACKEND_NFTABLES:
        return "merge ranges into wider ones"
    return (
        f"use the {BACKEND_NFTABLES} backend (up to {MAX_PLANNED_CIDRS_NFTABLES:,}) "
        "or merge ranges into wider ones"
    )


def reject_cidrs_in_both(
    kept: tuple[Prefix, ...], forced: tuple[Prefix, ...], source: str, *, defaults: bool
) -> None:
    # Equal prefixes leave the longest-prefix rule without an answer: the user must choose.
    if not forced:
        return
    kept_at = {prefix: index for index, prefix in reversed(list(enumerate(kept)))}
    for index, cidr in enumerate(forced):
        if cidr in kept_at:
            where = (
                "the default nonMasqueradeCIDRs"
                if defaults
                else f"nonMasqueradeCIDRs[{kept_at[cidr]}]"
            )
            raise ConfigError(
                f"{source}: forceMasqueradeCIDRs[{index}]: {cidr} is also in "
                f"{where}; a CIDR is either kept or masqueraded, remove it from one list"
            )


def ineffective_exceptions(
    kept: tuple[Prefix, ...], forced: tuple[Prefix, ...], source: str
) -> list[str]:
    """Exceptions inside no kept CIDR: masqueraded anyway, so most likely a mistake."""
    if not forced:
        return []
    kept_set = set(kept)

    def inside_a_kept_cidr(cidr: Prefix) -> bool:
        # At most 128 look-ups per exception, whatever the size of the lists.
        bits = BITS[cidr.version]
        return any(
            Prefix(cidr.version, cidr.first >> (bits - length) << (bits - length), length)
            in kept_set
            for length in range(cidr.length)
        )

    return [
        f"{source}: forceMasqueradeCIDRs[{index}] {cidr} lies inside no "
        "nonMasqueradeCIDRs entry, so it changes nothing (it is masqueraded anyway)"
        for index, cidr in enumerate(forced)
        if not inside_a_kept_cidr(cidr)
    ]


def reject_large_plans(
    kept: tuple[Prefix, ...], forced: tuple[Prefix, ...], source: str, backend: str = BACKEND_AUTO
) -> None:
    """Refuse a config planning more CIDRs than `backend`'s limit, exceptions expanded."""
    planned = planned_cidr_count(kept, forced)
    limit = limit_for(backend)
    if planned <= limit:
        return
    where = f"the agent's limit of {limit:,} on backend {backend} (what fits its memory limit)"
    if forced:
        raise ConfigError(
            f"{source}: forceMasqueradeCIDRs: its {len(forced)} exceptions split "
            f"nonMasqueradeCIDRs into {planned} CIDRs (one rule each), more than {where}; "
            f"use fewer or wider exceptions, or {_what_to_do(backend)}"
        )
    raise ConfigError(
        f"{source}: nonMasqueradeCIDRs has {planned} CIDRs, more than {where}; "
        f"{_what_to_do(backend)}"
    )


def exempting_everything(kept: tuple[Prefix, ...], forced: tuple[Prefix, ...]) -> Prefix | None:
    """THE default-route check: the family's whole space (`0.0.0.0/0`, `::/0`) when the
    lists leave no destination of it masqueraded, however it is spelt (`/0`, two `/1`s, ...).

    A node in that state sends all pod egress with the pod's address. Upstream accepts that,
    and a cluster whose pod ranges Cloud NAT translates may want it, so the agent (a drop-in)
    accepts it with a warning; the component and the policy, which guard what a stack derives,
    refuse it. Both ask this one function. Cheap when the answer is no: the kept CIDRs' sizes
    must add up to the family's size before any merge is worth doing.
    """
    for version, bits in BITS.items():
        family = [p for p in kept if p.version == version]
        if sum(1 << (bits - p.length) for p in family) < 1 << bits:
            continue
        excepted = [p for p in forced if p.version == version]
        if PrefixSet.non_masquerade(family, excepted).covers_family(version):
            return Prefix(version, 0, 0)
    return None


def exempting_everything_verdict(
    kept: tuple[Prefix, ...], forced: tuple[Prefix, ...], source: str
) -> str | None:
    """One line naming what exempts every destination of a family, or None when nothing does."""
    everything = exempting_everything(kept, forced)
    if everything is None:
        return None
    # The widest entries, those no other entry contains: in (address, wider first) order, an
    # entry starting past the end of the last widest one.
    widest: list[Prefix] = []
    for prefix in sorted({p for p in kept if p.version == everything.version}):
        if not widest or prefix.first > widest[-1].last:
            widest.append(prefix)
    if widest == [everything]:
        what = f"contains {everything}"
    else:
        shown = ", ".join(map(str, widest[:_NAMED_CIDRS]))
        more = f" (+{len(widest) - _NAMED_CIDRS} more)" if len(widest) > _NAMED_CIDRS else ""
        what = f"entries {shown}{more} merge into {everything}"
    return f"{source}: nonMasqueradeCIDRs {what}, which stops all pod egress from being masqueraded"
