"""ip-masq-config-valid over hand-built ConfigMaps."""

import pytest

from pulumi_ip_masq_agent.policy.config_valid import validate_ip_masq_config
from pulumi_ip_masq_agent.policy.preview_unknowns import CannotCheckUntilDeployedError
from tests.policies.objects import CONFIGMAP, agent_config, configmap
from tests.policies.policy_args import UNKNOWN, run_resource


def check(props: dict[str, object], **config: object) -> list[str]:
    return run_resource(validate_ip_masq_config, CONFIGMAP, props, name="cm", config=config)


def test_compliant_config_passes() -> None:
    assert check(configmap()) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            agent_config(nonMasqueradeCIDRs=["10.0.0.0/8", "0.0.0.0/0"]),
            "nonMasqueradeCIDRs contains 0.0.0.0/0",
            id="ipv4-default-route",
        ),
        pytest.param(
            agent_config(nonMasqueradeCIDRs=["::/0"]),
            "nonMasqueradeCIDRs contains ::/0",
            id="ipv6-default-route",
        ),
        pytest.param(
            agent_config(nonMasqueradeCIDRs=[f"10.{i}.0.0/16" for i in range(5)], cidrLimit=4),
            "nonMasqueradeCIDRs has 5 CIDRs, more than cidrLimit 4",
            id="over-cidr-limit",
        ),
        pytest.param(
            agent_config(nonMasqueradeCIDRs=["10.0.0.1/8"]),
            "has host bits set",
            id="host-bits",
        ),
        pytest.param("nonMasqueradeCIDRs: [", "not valid JSON/YAML", id="not-yaml"),
        pytest.param(
            agent_config(resyncInterval="1s"),
            "resyncInterval 1s is outside 5s..10m",
            id="resync-too-fast",
        ),
        pytest.param(
            agent_config(resyncInterval="1h"),
            "resyncInterval 3600s is outside",
            id="resync-too-slow",
        ),
        pytest.param(
            agent_config(nonMasqCIDRs=["10.0.0.0/8"]),
            "ignoring unknown key 'nonMasqCIDRs'",
            id="typo-key",
        ),
        pytest.param(
            agent_config(forceMasqueradeCIDRs=["10.12.0.0/16"]),
            "forceMasqueradeCIDRs[0]: 10.12.0.0/16 is also in nonMasqueradeCIDRs[3]",
            id="force-masquerade-in-both-lists",
        ),
        pytest.param(
            agent_config(
                nonMasqueradeCIDRs=["fd00::/8"],
                forceMasqueradeCIDRs=[f"fd{i % 256:02x}:{i:x}::{i:x}/128" for i in range(1, 501)],
                cidrLimit=600,
            ),
            # Alone, a document is held to the largest limit (nftables'); the backend's own is
            # ip-masq-plan-fits-backend's (tests/policies/test_plan_fits_backend.py).
            "data.config: forceMasqueradeCIDRs: its 500 exceptions split nonMasqueradeCIDRs"
            " into 53804 CIDRs (one rule each), more than the agent's limit of 50,000 on backend"
            " nftables",
            id="force-masquerade-expands-past-the-agents-limit",
        ),
        pytest.param(
            agent_config(forceMasqueradeCIDRs=["10.4.0.1/30"]),
            "forceMasqueradeCIDRs[0]: '10.4.0.1/30' has host bits set",
            id="force-masquerade-host-bits",
        ),
        pytest.param(
            agent_config(forceMasqueradeCIDRs=["192.0.2.0/24"]),
            "forceMasqueradeCIDRs[0] 192.0.2.0/24 lies inside no nonMasqueradeCIDRs entry, so it"
            " changes nothing (it is masqueraded anyway)",
            id="force-masquerade-changes-nothing",
        ),
    ],
)
def test_bad_documents_are_named(config: str, expected: str) -> None:
    violations = check(configmap(config))
    assert len(violations) == 1, violations
    assert "ConfigMap kube-system/ip-masq-agent (cm)" in violations[0]
    assert expected in violations[0]
    assert ("misspelt" in violations[0]) == ("unknown key" in expected)


def test_missing_config_key_is_a_violation() -> None:
    props = configmap()
    props["data"] = {}
    [violation] = check(props)
    assert "data.config is missing" in violation


def test_configmap_patch_is_judged_like_the_configmap() -> None:
    patch = "kubernetes:core/v1:ConfigMapPatch"
    bad = configmap(agent_config(nonMasqueradeCIDRs=["0.0.0.0/0"]))
    [violation] = run_resource(validate_ip_masq_config, patch, bad, name="gke-cm")
    assert "0.0.0.0/0" in violation
    labels_only = {"metadata": {**bad["metadata"], "labels": {"team": "net"}}}
    assert run_resource(validate_ip_masq_config, patch, labels_only) == []


def test_resync_bounds_are_configurable() -> None:
    props = configmap(agent_config(resyncInterval="1s"))
    assert check(props, minResyncInterval="500ms") == []
    [violation] = check(configmap(), maxResyncInterval="30s")
    assert "resyncInterval 60s is outside 5s..30s" in violation


def test_bad_policy_config_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"ip-masq-config-valid\.minResyncInterval: 'soon'"):
        check(configmap(), minResyncInterval="soon")


def test_other_configmaps_are_ignored() -> None:
    assert check(configmap("not: [yaml", name="other")) == []
    assert check(configmap("not: [yaml", namespace="default")) == []


def test_unknown_config_is_an_explicit_advisory_not_a_pass() -> None:
    props = configmap()
    props["data"] = {"config": UNKNOWN}
    with pytest.raises(CannotCheckUntilDeployedError) as caught:
        check(props)
    assert "cannot check until deployed" in str(caught.value)
    assert "ConfigMap kube-system/ip-masq-agent (cm)" in str(caught.value)
    assert "data.config" in str(caught.value)
