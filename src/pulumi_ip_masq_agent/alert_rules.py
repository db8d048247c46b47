"""The agent's alert rules: one source for the PrometheusRule, GMP's Rules and the plain
rules file (monitoring/ip-masq-agent-rules.yaml)."""

import math
from dataclasses import dataclass
from typing import Any, Final

import yaml

from ip_masq_agent.contract import AGENT_NAMESPACE, DEFAULT_RESYNC_SECONDS
from pulumi_ip_masq_agent.scrape_targets import (
    AGENT_CONTAINER,
    SCRAPE_INTERVAL_SECONDS,
    prometheus_duration,
)

RULE_GROUP: Final = "ip-masq-agent"
# The window and the hold of the two rules whose contract says "for 5 minutes".
FIVE_MINUTES: Final = 300
# How long a counted writer fight keeps IpMasqAgentWriterFight firing after it started.
FIGHT_LOOKBACK: Final = 600
# Where the runbooks live: each alert's runbook_url is this and `#<alert name, lower case>`,
# the anchor a Markdown renderer gives the heading `### <alert name>` in docs/operations.md.
# The repository's address is written `${IP_MASQ_AGENT_REPO}` wherever the repo names it
# (README, requirements files, provider/PulumiPlugin.yaml): publishing it means setting it
# here too, as alert annotations expand no variable.
REPO_URL: Final = "${IP_MASQ_AGENT_REPO}"
RUNBOOKS_URL: Final = f"{REPO_URL}/blob/main/docs/operations.md"
_AGENT_TARGETS: Final = f'namespace="{AGENT_NAMESPACE}",container="{AGENT_CONTAINER}"'


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule; its name, severity and the `pod` label it keeps are the contract."""

    alert: str
    expr: str
    for_seconds: int
    severity: str
    summary: str
    description: str

    @property
    def runbook_url(self) -> str:
        """Its runbook: the section of docs/operations.md headed with the alert's name."""
        return f"{RUNBOOKS_URL}#{self.alert.lower()}"

    def as_rule(self) -> dict[str, Any]:
        """The rule as rule files, PrometheusRule and GMP Rules objects spell it."""
        return {
            "alert": self.alert,
            "expr": self.expr,
            "for": prometheus_duration(self.for_seconds),
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": self.runbook_url,
            },
        }


def stale_after_seconds(resync_interval_seconds: float) -> int:
    """How old the last successful sync may get before IpMasqAgentSyncStale is pending.

    A healthy agent completes a sync at least once every resyncInterval (the runner's maximum
    period; config changes only add syncs), so the age of its last success climbs to one
    resyncInterval and falls back. Three intervals leave room for one late sync (a failed one
    is retried within 30 s) and still catch the third missed one; two scrape intervals cover
    the age of the sample Prometheus evaluates (up to one scrape) and the rule's own
    evaluation lag (up to one more). 60s -> 4m, 5m -> 16m, 1h -> 3h1m.
    """
    return math.ceil(3 * resync_interval_seconds + 2 * SCRAPE_INTERVAL_SECONDS)


def alert_rules(resync_interval_seconds: float = DEFAULT_RESYNC_SECONDS) -> tuple[AlertRule, ...]:
    """The agent's alerts, for a fleet whose ConfigMap says this resyncInterval."""
    stale_after = stale_after_seconds(resync_interval_seconds)
    where = "{{ $labels.pod }} ({{ $labels.instance }})"
    return (
        AlertRule(
            alert="IpMasqAgentConfigRejected",
            expr="ip_masq_agent_config_current == 0",
            for_seconds=FIVE_MINUTES,
            severity="warning",
            summary="ip-masq-agent {{ $labels.pod }} keeps its last good config, "
            "not the ConfigMap's",
            description=(
                f"For 5 minutes the config file of {where} has been invalid, unreadable or "
                "missing, so that node's NAT rules follow the last config that was good, not "
                "what ConfigMap kube-system/ip-masq-agent says now. Its 'config not used' log "
                "line names the key and the bad value: fix the ConfigMap (every node alerting) "
                "or the node's volume (one node alerting)."
            ),
        ),
        AlertRule(
            alert="IpMasqAgentSyncFailing",
            # True while the last 2 minutes hold failures and no success, held 5 minutes: a new
            # pod failing from its start pages after 5 minutes, a running one 2 minutes later
            # (its last success must leave the window first). One failure retried successfully
            # 0.5 s later breaks the hold. Two minutes hold two scrapes even at a 1m interval
            # (the plain rules file's Prometheus may scrape slower than the PodMonitor does),
            # and failed syncs are retried every 30 s at most, so a failing agent fills each.
            expr=(
                'sum without (result) (increase(ip_masq_agent_syncs_total{result!="ok"}[2m])) > 0'
                "\nunless\n"
                'sum without (result) (increase(ip_masq_agent_syncs_total{result="ok"}[2m])) > 0'
            ),
            for_seconds=FIVE_MINUTES,
            severity="critical",
            summary="ip-masq-agent {{ $labels.pod }}: syncs fail and none succeeds",
            description=(
                f"{where} has completed no sync for 5 minutes while its syncs fail "
                '({{ $value | printf "%.0f" }} failures in the last 2 minutes). The kernel keeps '
                "the rules of its last successful sync (every write is one transaction), so "
                "ConfigMap changes are not applied and drift is not repaired on that node. Its "
                "'sync failed' log lines carry the error; `no_config` means there never was a "
                "valid config."
            ),
        ),
        AlertRule(
            alert="IpMasqAgentSyncStale",
            expr=(f"time() - ip_masq_agent_last_successful_sync_timestamp_seconds > {stale_after}"),
            # A new pod's first scrape can precede its first sync (timestamp 0); the hold
            # outlasts that one sample.
            for_seconds=120,
            severity="critical",
            summary="ip-masq-agent {{ $labels.pod }} has completed no sync for "
            "{{ $value | humanizeDuration }}",
            description=(
                f"A healthy agent completes a sync at least every resyncInterval "
                f"({prometheus_duration(resync_interval_seconds)}); {where} has gone "
                "{{ $value | humanizeDuration }} without one (bound: "
                f"{prometheus_duration(stale_after)}). Its loop is stuck or every sync fails: "
                "ConfigMap changes are not applied and drift is not repaired on that node."
            ),
        ),
        AlertRule(
            alert="IpMasqAgentOtherBackendRules",
            # Removal at the first sync after a start is a backend switch (`when="switch"`),
            # expected once; rules that come back later mean another agent of ours is writing.
            expr='increase(ip_masq_agent_other_backend_removals_total{when="reappeared"}[15m]) > 0',
            for_seconds=0,
            severity="warning",
            summary="ip-masq-agent {{ $labels.pod }} keeps finding {{ $labels.backend }} rules "
            "of another agent",
            description=(
                f"{where} removed rules of our {{{{ $labels.backend }}}} backend that came back "
                "after it had removed them: another ip-masq-agent of ours (an old DaemonSet, a "
                "second one, a manual run) is writing on that node, and until each resync "
                "removes them its rules follow an older config."
            ),
        ),
        AlertRule(
            alert="IpMasqAgentWriterFight",
            # The agent's own verdict is the hold (3 drift rewrites within its window), so no
            # `for`. The gauge covers a fight that goes on (it stays 1, the counter does not
            # move); the counter one too short for any scrape to see the gauge at 1 (a slow
            # writer whose third undo falls just inside the window). A sum, not `or`: both
            # sides drop the metric name and keep every other label, so one alert per pod.
            expr=(
                f"max_over_time(ip_masq_agent_writer_fight[{prometheus_duration(FIGHT_LOOKBACK)}])"
                "\n+\n"
                "increase(ip_masq_agent_writer_fights_total"
                f"[{prometheus_duration(FIGHT_LOOKBACK)}]) > 0"
            ),
            for_seconds=0,
            severity="warning",
            summary="ip-masq-agent {{ $labels.pod }}: another writer keeps undoing its NAT rules",
            description=(
                f"In the last {FIGHT_LOOKBACK // 60} minutes {where} had to repair its rules 3 "
                "times within its fight window (5 minutes, or 3 resync intervals when longer): "
                "another program writes the agent's chain or nft table (upstream's "
                "ip-masq-agent with the same --masq-chain, a CNI or a script rewriting nat). "
                "Until each repair, that node's pod traffic follows the other writer's rules; "
                "/readyz on that node is 503 while the fight goes on, and the log line "
                "'another writer is changing our rules' has the counts."
            ),
        ),
        AlertRule(
            alert="IpMasqAgentNotScraped",
            # `up` is the scraper's own series, one per target. The agent's targets carry
            # `namespace` and `container` under the Operator's PodMonitor and GMP's
            # PodMonitoring alike (GMP fills `container` because the port is named); their
            # `job` differs (`kube-system/ip-masq-agent-derived` against
            # `ip-masq-agent-derived`), so the selector leaves it out. `up == 0`: a pod that
            # exists but does not answer (a crash loop, /metrics not on the node's address),
            # one alert per pod. absent(): no target at all (the PodMonitor or PodMonitoring
            # not picked up, the DaemonSet without pods, the collector not running), one alert
            # with the selector's labels. The 5-minute hold outlasts a rollout's restarts.
            # Nodes the DaemonSet could not place a pod on are no target either: counting those
            # needs kube-state-metrics' desired count, which neither scraper ships by default.
            expr=f"up{{{_AGENT_TARGETS}}} == 0\nor\nabsent(up{{{_AGENT_TARGETS}}})",
            for_seconds=FIVE_MINUTES,
            severity="warning",
            summary="{{ if $labels.pod }}ip-masq-agent {{ $labels.pod }} does not answer its "
            "scrapes{{ else }}No ip-masq-agent is scraped{{ end }}",
            description=(
                "{{ if $labels.pod }}For 5 minutes every scrape of "
                f"{where} has failed: the pod exists but its /metrics on the node's address does "
                "not answer (a crash loop, a container not started, a node address the "
                "collector cannot reach).{{ else }}For 5 minutes no target of ip-masq-agent in "
                f"{AGENT_NAMESPACE} has been scraped: no PodMonitor or PodMonitoring of it is "
                "picked up, or the DaemonSet has no pods.{{ end }} While this fires the other "
                "ip-masq-agent alerts cannot fire for those nodes; their kernels keep the NAT "
                "rules last written."
            ),
        ),
    )


def rule_groups(
    resync_interval_seconds: float = DEFAULT_RESYNC_SECONDS, *, evaluation_interval: bool = False
) -> list[dict[str, Any]]:
    """`groups` of a rules file, the same list a PrometheusRule's spec holds.

    `evaluation_interval`: the group states its own (GMP's Rules, whose rule evaluator has no
    global one to fall back on), one scrape interval, the interval the unit tests evaluate at.
    """
    rules = [rule.as_rule() for rule in alert_rules(resync_interval_seconds)]
    interval = {"interval": prometheus_duration(SCRAPE_INTERVAL_SECONDS)}
    return [{"name": RULE_GROUP} | (interval if evaluation_interval else {}) | {"rules": rules}]


RULES_FILE_HEADER: Final = (
    "# Generated from src/pulumi_ip_masq_agent/alert_rules.py for the default resyncInterval\n"
    "# ({resync}) by `python -m pulumi_ip_masq_agent.monitoring`; a test keeps it equal.\n"
    "# For Prometheus without the Operator: list it in rule_files. The component's PrometheusRule\n"
    "# (or GMP Rules) holds the same groups, its stale bound derived from the stack's own\n"
    "# resyncInterval. IpMasqAgentNotScraped selects the targets by `namespace` and `container`.\n"
)


class _RulesDumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, as a person writes a rules file."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    )


_RulesDumper.add_representer(str, _represent_text)


def rules_file_text(resync_interval_seconds: float = DEFAULT_RESYNC_SECONDS) -> str:
    """The plain Prometheus rules file."""
    body = yaml.dump(
        {"groups": rule_groups(resync_interval_seconds)},
        Dumper=_RulesDumper,
        sort_keys=False,
        # One annotation a line: a wrapped one would split `{{ $value }}` across lines.
        width=1_000_000,
    )
    header = RULES_FILE_HEADER.format(resync=prometheus_duration(resync_interval_seconds))
    return header + body
