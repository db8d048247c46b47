"""What a plan in place tells the log, /healthz and /metrics: counts and digests, no CIDR list.

Loop thread only: the last summary and the exported digests are read and written by the sync
loop alone (the metrics objects are thread-safe themselves).
"""

import hashlib
import logging
from collections.abc import Mapping
from typing import Final

from ip_masq_agent.deferred_metrics import Metrics
from ip_masq_agent.logs import log_event
from ip_masq_agent.prefixes import Prefix
from ip_masq_agent.rules import DesiredRules

# CIDRs named in the summary per family; the rest is counted and digested, so the line stays
# short at 10,000 CIDRs (it printed all of them: ~150 KB per log line and /healthz answer).
SUMMARY_CIDRS: Final = 4


def family_digest(networks: tuple[Prefix, ...]) -> str:
    """A short digest of the whole list, in order: equal on two nodes iff their lists are."""
    digest = hashlib.sha256()
    for network in networks:
        digest.update(f"{network}\n".encode())
    return digest.hexdigest()[:12]


def plan_digests(desired: DesiredRules) -> dict[str, str]:
    """`family_digest` of each family: once per plan (printing 10,000 networks takes ~50 ms)."""
    return {rules.family: family_digest(rules.non_masquerade) for rules in desired.families}


def rules_summary(desired: DesiredRules, digests: Mapping[str, str] | None = None) -> str:
    """One bounded line: per family the count, the first few destinations, a digest of all.

    `digests` are the plan's own `plan_digests`, when the caller has them already.
    """
    digests = plan_digests(desired) if digests is None else digests
    parts = []
    for rules in desired.families:
        networks = rules.non_masquerade
        shown = [str(n) for n in networks[:SUMMARY_CIDRS]]
        if len(networks) > SUMMARY_CIDRS:
            shown.append(f"+{len(networks) - SUMMARY_CIDRS} more")
        listed = f" {','.join(shown)}" if shown else ""
        parts.append(
            f"{rules.family}: {len(networks)} CIDRs{listed} sha256={digests[rules.family]}"
        )
    return "; ".join(parts)


class PlanReport:
    """Logs and exports each plan once it is in place, when its summary differs from the last."""

    def __init__(self, metrics: Metrics, logger: logging.Logger) -> None:
        self._metrics = metrics
        self._log = logger
        self._reported: DesiredRules | None = None
        self._summary: str | None = None
        self._digests: dict[str, str] = {}
        self.rule_counts: str | None = None  # the /healthz line: counts and digests

    def in_place(self, desired: DesiredRules) -> None:
        """`desired` holds in the kernel now (the same plan object again costs nothing)."""
        if desired is self._reported:
            return
        self._reported = desired
        digests = plan_digests(desired)
        summary = rules_summary(desired, digests)
        if summary == self._summary:
            return
        log_event(self._log, logging.INFO, "rules in place", rules=summary)
        self._summary = summary
        # Counts and the digest /metrics exports (a fleet compares nodes by it): no CIDR.
        self.rule_counts = ", ".join(
            f"{rules.family} {len(rules.non_masquerade)} destinations kept"
            f" sha256={digests[rules.family]}"
            for rules in desired.families
        )
        for rules in desired.families:
            self._metrics.desired_cidrs.labels(family=rules.family).set(len(rules.non_masquerade))
            self._export_digest(rules.family, digests[rules.family])

    def _export_digest(self, family: str, digest: str) -> None:
        # One series per family: the old list's digest goes when the new one comes, so a
        # fleet mid-rollout counts its nodes per digest.
        old = self._digests.get(family)
        if old == digest:
            return
        if old is not None:
            self._metrics.desired_digest.remove(family, old)
        self._metrics.desired_digest.labels(family=family, sha256=digest).set(1)
        self._digests[family] = digest
