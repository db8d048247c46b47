"""What the loop reports before prometheus_client is imported reaches the real metrics."""

from prometheus_client import CollectorRegistry

from ip_masq_agent.deferred_metrics import DeferredMetrics
from ip_masq_agent.metrics import AgentMetrics


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_calls_before_attach_are_replayed_in_order_with_their_values() -> None:
    deferred = DeferredMetrics()
    deferred.syncs.labels(result="ok").inc()
    deferred.rules_rewritten.labels(reason="initial").inc()
    deferred.last_success.set(1234.5)  # the success's own wall time, not the replay's
    deferred.sync_duration.observe(0.2)
    deferred.config_current.set(1)
    deferred.desired_digest.labels(family="ipv4", sha256="old").set(1)
    deferred.desired_digest.remove("ipv4", "old")
    deferred.desired_digest.labels(family="ipv4", sha256="new").set(1)
    deferred.writer_fight.set_function(lambda: 1.0)
    deferred.writer_fights.inc()
    registry = CollectorRegistry()
    deferred.attach(AgentMetrics(registry, backend="nftables"))

    assert _value(registry, "ip_masq_agent_syncs_total", result="ok") == 1
    assert _value(registry, "ip_masq_agent_rules_rewritten_total", reason="initial") == 1
    assert _value(registry, "ip_masq_agent_last_successful_sync_timestamp_seconds") == 1234.5
    assert _value(registry, "ip_masq_agent_sync_duration_seconds_count") == 1
    assert _value(registry, "ip_masq_agent_sync_duration_seconds_sum") == 0.2
    assert _value(registry, "ip_masq_agent_config_current") == 1
    digest = "ip_masq_agent_desired_cidrs_info"
    assert _value(registry, digest, family="ipv4", sha256="old") is None
    assert _value(registry, digest, family="ipv4", sha256="new") == 1
    assert _value(registry, "ip_masq_agent_writer_fight") == 1
    assert _value(registry, "ip_masq_agent_writer_fights_total") == 1


def test_after_attach_calls_go_straight_to_the_real_metrics() -> None:
    deferred = DeferredMetrics()
    recorder = deferred.syncs.labels(result="error")  # taken before, used after attach
    registry = CollectorRegistry()
    real = AgentMetrics(registry, backend="nftables")
    deferred.attach(real)
    recorder.inc()
    deferred.syncs.labels(result="ok").inc(2)
    assert deferred.last_queued is real.last_queued
    assert _value(registry, "ip_masq_agent_syncs_total", result="error") == 1
    assert _value(registry, "ip_masq_agent_syncs_total", result="ok") == 2
