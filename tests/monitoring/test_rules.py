"""The alert rules: their contract, the plain rules file, and promtool's check and unit tests."""

import re
from pathlib import Path

import pytest
import yaml

from ip_masq_agent.contract import DEFAULT_RESYNC_SECONDS
from pulumi_ip_masq_agent.alert_rules import (
    REPO_URL,
    RUNBOOKS_URL,
    alert_rules,
    rule_groups,
    rules_file_text,
    stale_after_seconds,
)
from pulumi_ip_masq_agent.scrape_targets import prometheus_duration
from tests.monitoring.exported import exported_metric_names, metric_names_in
from tests.monitoring.promtool import run_promtool

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "monitoring" / "ip-masq-agent-rules.yaml"
UNIT_TESTS = Path(__file__).with_name("ip-masq-agent-rules.test.yaml")
OPERATIONS = ROOT / "docs" / "operations.md"


def test_rules_file_is_generated_from_the_source() -> None:
    assert RULES_FILE.read_text() == rules_file_text(), (
        "monitoring/ip-masq-agent-rules.yaml is stale: regenerate it with `.venv/bin/python"
        " -m pulumi_ip_masq_agent.monitoring > monitoring/ip-masq-agent-rules.yaml`"
    )
    assert yaml.safe_load(RULES_FILE.read_text()) == {"groups": rule_groups()}


def test_alert_names_and_severities_are_the_contract() -> None:
    rules = {rule["alert"]: rule for group in rule_groups() for rule in group["rules"]}
    assert {name: rule["labels"]["severity"] for name, rule in rules.items()} == {
        "IpMasqAgentConfigRejected": "warning",
        "IpMasqAgentSyncFailing": "critical",
        "IpMasqAgentSyncStale": "critical",
        "IpMasqAgentOtherBackendRules": "warning",
        "IpMasqAgentWriterFight": "warning",
        "IpMasqAgentNotScraped": "warning",
    }
    for name, rule in rules.items():
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOKS_URL}#{name.lower()}"


def markdown_anchors(text: str) -> set[str]:
    """The anchors a Markdown renderer (GitHub's) gives the headings of `text`."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_every_runbook_url_names_a_section_of_the_operations_doc() -> None:
    assert f"{REPO_URL}/blob/main/docs/operations.md" == RUNBOOKS_URL
    anchors = markdown_anchors(OPERATIONS.read_text())
    for rule in alert_rules():
        page, _, anchor = rule.runbook_url.partition("#")
        assert page == RUNBOOKS_URL, rule.alert
        assert anchor in anchors, (rule.alert, anchor)
    # The README links each runbook there, by the same anchor.
    readme = (ROOT / "README.md").read_text()
    for rule in alert_rules():
        assert f"(docs/operations.md#{rule.alert.lower()})" in readme, rule.alert


def test_the_anchor_check_catches_a_missing_section() -> None:
    text = "# Operating\n\n## Runbooks\n\n### IpMasqAgentSyncStale\n"
    assert markdown_anchors(text) == {"operating", "runbooks", "ipmasqagentsyncstale"}
    assert "ipmasqagentsyncfailing" not in markdown_anchors(text)
    assert "runbook-ipmasqagentsyncstale" in markdown_anchors("### Runbook: IpMasqAgentSyncStale")


def test_rules_name_only_metrics_the_agent_exports() -> None:
    # And `up`, the scraper's own series for each target.
    exported = exported_metric_names() | {"up"}
    for rule in alert_rules():
        named = metric_names_in(rule.expr)
        assert named, rule.alert
        assert named <= exported, (rule.alert, named - exported)


def test_no_rule_aggregates_the_pod_label_away() -> None:
    # `pod` must survive into the alert: only `without (result)` may drop labels.
    for rule in alert_rules():
        for clause in re.findall(r"\b(by|without)\s*\(([^)]*)\)", rule.expr):
            assert clause == ("without", "result"), (rule.alert, clause)


@pytest.mark.parametrize(
    ("resync", "bound"),
    [(60.0, "4m"), (300.0, "16m"), (3600.0, "3h1m"), (1.0, "1m3s")],
    ids=["default-1m", "5m", "1h", "1s"],
)
def test_stale_bound_follows_the_resync_interval(resync: float, bound: str) -> None:
    assert prometheus_duration(stale_after_seconds(resync)) == bound
    stale = next(r for r in alert_rules(resync) if r.alert == "IpMasqAgentSyncStale")
    assert stale.expr.endswith(f"> {stale_after_seconds(resync)}")
    assert f"resyncInterval ({prometheus_duration(resync)})" in stale.description


def test_promtool_checks_the_rules_file(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_a_wrong_stale_bound(promtool: str, tmp_path: Path) -> None:
    # The same unit tests against rules made for a 10m resyncInterval: the stuck-loop case
    # must no longer fire when the tests say it does.
    (tmp_path / "monitoring").mkdir()
    (tmp_path / "monitoring" / "ip-masq-agent-rules.yaml").write_text(rules_file_text(600.0))
    tests_dir = tmp_path / "tests" / "monitoring"
    tests_dir.mkdir(parents=True)
    (tests_dir / UNIT_TESTS.name).write_text(UNIT_TESTS.read_text())
    result = run_promtool(promtool, "test", "rules", tests_dir / UNIT_TESTS.name)
    assert result.returncode != 0
    assert "a stuck loop pages as stale" in result.stdout + result.stderr


def test_a_longer_resync_interval_gets_its_own_stale_bound(promtool: str, tmp_path: Path) -> None:
    # resyncInterval 5m: an idle agent succeeds every 5 minutes, which the default bound (4m)
    # would call stale; its own bound (16m) stays quiet and still catches a stopped loop.
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_file_text(300.0))
    series = (
        "ip_masq_agent_last_successful_sync_timestamp_seconds"
        '{pod="agent-a",instance="10.128.0.2:10262"}'
    )
    stale = next(r for r in alert_rules(300.0) if r.alert == "IpMasqAgentSyncStale")
    # At minute 29 the last success (minute 10) is 19 minutes old.
    filled = {
        key: text.replace("{{ $labels.pod }}", "agent-a")
        .replace("{{ $labels.instance }}", "10.128.0.2:10262")
        .replace("{{ $value | humanizeDuration }}", "19m 0s")
        for key, text in (("summary", stale.summary), ("description", stale.description))
    } | {"runbook_url": stale.runbook_url}
    idle = " ".join(str(minute // 5 * 300) for minute in range(61))
    stopped = " ".join(str(min(minute, 10) // 5 * 300) for minute in range(61))
    unit = {
        "rule_files": [rules.name],
        "evaluation_interval": "30s",
        "tests": [
            {
                "name": "idle agent with resyncInterval 5m",
                "interval": "1m",
                "input_series": [{"series": series, "values": idle}],
                "alert_rule_test": [
                    {"eval_time": "59m", "alertname": "IpMasqAgentSyncStale", "exp_alerts": []}
                ],
            },
            {
                "name": "loop stopped at minute 10 with resyncInterval 5m",
                "interval": "1m",
                "input_series": [{"series": series, "values": stopped}],
                "alert_rule_test": [
                    # Age passes 16m at minute 26; the 2-minute hold follows.
                    {"eval_time": "27m", "alertname": "IpMasqAgentSyncStale", "exp_alerts": []},
                    {
                        "eval_time": "29m",
                        "alertname": "IpMasqAgentSyncStale",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "pod": "agent-a",
                                    "instance": "10.128.0.2:10262",
                                },
                                "exp_annotations": filled,
                            }
                        ],
                    },
                ],
            },
        ],
    }
    (tmp_path / "unit.yaml").write_text(yaml.safe_dump(unit))
    result = run_promtool(promtool, "test", "rules", tmp_path / "unit.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_resync_interval_is_the_agents() -> None:
    assert rules_file_text() == rules_file_text(DEFAULT_RESYNC_SECONDS)
    assert "resyncInterval (1m)" in rules_file_text()
