"""Prometheus metrics answering "is it stuck?" (works with Debian's prometheus-client 0.16)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ip_masq_agent.backends.migration import DISTINCT_BACKENDS
from ip_masq_agent.rules import FAMILIES


class AgentMetrics:
    """Every metric the agent exports, registered in the given registry."""

    def __init__(self, registry: CollectorRegistry, *, backend: str) -> None:
        self.sync_duration = Histogram(
            "ip_masq_agent_sync_duration_seconds",
            "Time one sync took (config read, kernel compare, rewrite if needed).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.syncs = Counter(
            "ip_masq_agent_syncs", "Syncs by result.", ["result"], registry=registry
        )
        self.config_reloads = Counter(
            "ip_masq_agent_config_reloads",
            "Config file contents seen, by result (ok, invalid, missing, unreadable).",
            ["result"],
            registry=registry,
        )
        self.config_current = Gauge(
            "ip_masq_agent_config_current",
            "1 when the rules follow the config file as it is now; 0 when the last good config"
            " is kept because the file is invalid or missing.",
            registry=registry,
        )
        self.last_success = Gauge(
            "ip_masq_agent_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync.",
            registry=registry,
        )
        self.last_queued = Gauge(
            "ip_masq_agent_last_queued_sync_timestamp_seconds",
            "Unix time a sync was last requested (config change or resync).",
            registry=registry,
        )
        self.desired_cidrs = Gauge(
            "ip_masq_agent_desired_cidrs",
            "Non-masquerade destinations in the desired rules, by family.",
            ["family"],
            registry=registry,
        )
        self.desired_digest = Gauge(
            "ip_masq_agent_desired_cidrs_info",
            "Digest of the desired non-masquerade list per family (value 1), as /healthz and"
            " the 'rules in place' log show it: nodes with equal lists have equal digests.",
            ["family", "sha256"],
            registry=registry,
        )
        self.rules_rewritten = Counter(
            "ip_masq_agent_rules_rewritten",
            "Rule rewrites by reason (initial, config, drift, retry).",
            ["reason"],
            registry=registry,
        )
        self.other_backend_removals = Counter(
            "ip_masq_agent_other_backend_removals",
            "Rules of another of our backends found on the node and removed, by that backend"
            " and when: `switch` at the first sync after start (a change of backend), and"
            " `reappeared` later (an overlapping old agent re-created them).",
            ["backend", "when"],
            registry=registry,
        )
        self.writer_fights = Counter(
            "ip_masq_agent_writer_fights",
            "Fights with another writer: times drift rewrites (drift found at a resync, or our"
            " write undone before we looked) reached 3 within 5 minutes, or within 3 resync"
            " intervals when longer.",
            registry=registry,
        )
        self.writer_fight = Gauge(
            "ip_masq_agent_writer_fight",
            "1 while another writer keeps undoing our rules (3 drift rewrites within the"
            " window); /readyz fails meanwhile.",
            registry=registry,
        )
        self.backend = Gauge(
            "ip_masq_agent_backend_info",
            "The kernel backend in use (value 1).",
            ["backend"],
            registry=registry,
        )
        self.backend.labels(backend=backend).set(1)
        for result in ("ok", "error", "no_config"):
            self.syncs.labels(result=result)
        for family in FAMILIES:
            self.desired_cidrs.labels(family=family)
        # Present at 0 from the start, so `increase()` sees the first reappearance too.
        for other in DISTINCT_BACKENDS:
            if other != backend:
                self.other_backend_removals.labels(backend=other, when="reappeared")
