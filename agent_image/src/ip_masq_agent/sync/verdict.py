"""The health verdict, computed where it is served: a pure function of the loop's snapshot.

/healthz (liveness) fails when the loop stalls, an owed write waits too long, or syncs keep
failing; /readyz (readiness) holds after the first success, unless the config file is
rejected or another writer keeps undoing our rules. The body is a status line and counts: no
CIDR, no config text, no tool output (any pod that reaches the port could read them).
"""

from dataclasses import dataclass

from ip_masq_agent.sync.drift_fight import FIGHT_EVENT, Fight
from ip_masq_agent.sync.health_tracker import Seen
from ip_masq_agent.sync.scheduler import LONGEST_SLEEP


@dataclass(frozen=True)
class HealthReport:
    """What /healthz and /readyz answer."""

    healthy: bool
    ready: bool
    body: str
    unready: str = "no sync succeeded yet"  # why /readyz fails, when it does


@dataclass(frozen=True)
class LivenessLimits:
    """When /healthz fails (seconds, except the count)."""

    health_timeout: float  # a write owed for longer than this
    heartbeat_slack: float  # the loop silent for resyncInterval plus this
    failures_unhealthy: int  # this many failed syncs in a row


def liveness_problems(seen: Seen, now: float, limits: LivenessLimits) -> list[str]:
    """Why /healthz fails at `now`; empty when it does not."""
    problems = []
    # The loop sleeps at most LONGEST_SLEEP, and never less than its minimum gap.
    stall_bound = min(seen.interval, LONGEST_SLEEP) + limits.heartbeat_slack
    if now - seen.beat > stall_bound:
        problems.append(
            f"the sync loop has not completed an iteration for {now - seen.beat:.0f}s"
            f" (bound {stall_bound:.0f}s)"
        )
    owed_since = seen.owed_since
    if owed_since is not None and now - owed_since > limits.health_timeout:
        problems.append(f"a sync requested {now - owed_since:.0f}s ago has not succeeded")
    if seen.failures >= limits.failures_unhealthy:
        problems.append(f"{seen.failures} syncs failed in a row (the log says why)")
    return problems


def health_report(
    seen: Seen, now: float, limits: LivenessLimits, *, fight: Fight | None, backend: str
) -> HealthReport:
    """Healthy unless `liveness_problems`; ready after the first success, unless the config
    is rejected or another writer keeps undoing our rules (`fight`)."""
    problems = liveness_problems(seen, now, limits)
    lines = [f"unhealthy: {p}" for p in problems] or ["ok"]
    if fight is not None:
        lines.append(f"warning: {FIGHT_EVENT} ({fight.describe()})")
    lines.append(f"backend: {backend}")
    lines.append(f"config: {seen.config_state}")
    if seen.rules is not None:
        lines.append(f"rules: {seen.rules}")
    ready = seen.ready
    if not ready:
        unready = "no sync succeeded yet"
    elif seen.config_rejected:
        # The rules keep the last good config (safe: nothing routes to these pods); NotReady
        # is what makes a node whose rules ignore the ConfigMap show in `kubectl get ds`,
        # and it holds a DaemonSet rollout there.
        ready = False
        unready = (
            "the config file is rejected; the rules keep the last good config"
            f" (config: {seen.config_state})"
        )
    elif fight is not None:
        ready = False
        unready = f"{FIGHT_EVENT} ({fight.describe()})"
    else:
        unready = ""
    return HealthReport(
        healthy=not problems, ready=ready, body="\n".join(lines) + "\n", unready=unready
    )
