"""Stack settings: Pulumi.yaml agreement, defaults, and one-line errors naming key and value."""

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.settings import DEFAULTS, SettingsError, parse_settings

ROOT = Path(__file__).resolve().parents[2]
GKE = {
    "clusterName": "c",
    "subnetCidr": "10.0.0.0/20",
    "podsCidr": "10.4.0.0/14",
    "servicesCidr": "10.1.0.0/20",
}
REGION = {"region": "europe-west1"}


def test_defaults_match_pulumi_yaml() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(DEFAULTS)
    assert {key: spec["default"] for key, spec in declared.items()} == DEFAULTS
    for key, spec in declared.items():
        assert spec["description"], key
        want = {str: "string", bool: "boolean", int: "integer", list: "array"}[type(DEFAULTS[key])]
        assert spec["type"] == want, key


def test_minimal_gke_settings() -> None:
    settings = parse_settings(GKE, gcp=REGION)
    assert settings.cluster == "gke"
    assert settings.platform is Platform.GKE_STANDARD
    assert settings.runs_daemon_set
    assert settings.deprecations == ()
    assert not settings.dual_stack
    assert settings.resync_interval == "60s"
    assert settings.cidr_limit == 64


@pytest.mark.parametrize("key", ["subnetCidr", "podsCidr", "servicesCidr", "controlPlaneCidr"])
@pytest.mark.parametrize("bad", ["10.0.0.1/20", "nope", "10.0.0.0/40"])
def test_malformed_range_names_key_and_value(key: str, bad: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({**GKE, key: bad}, gcp=REGION)
    message = str(caught.value)
    assert message.startswith(f"ip-masq-agent:{key}: {bad!r} ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            {"additionalPodsCidrs": '["10.8.0.0/14", "10.9.0.1/16"]'},
            "ip-masq-agent:additionalPodsCidrs[1]: '10.9.0.1/16' has host bits set",
            id="additional-pods",
        ),
        pytest.param(
            {"extraNonMasqueradeCidrs": '["0.0.0.0/0"]'},
            "ip-masq-agent:extraNonMasqueradeCidrs[0]: '0.0.0.0/0' would exempt every destination",
            id="default-route",
        ),
        pytest.param(
            {"extraNonMasqueradeCidrs": '["0.0.0.0/1", "128.0.0.0/1"]'},
            "ip-masq-agent:extraNonMasqueradeCidrs[0], ip-masq-agent:extraNonMasqueradeCidrs[1]:"
            " '0.0.0.0/1', '128.0.0.0/1' merge into 0.0.0.0/0, which would exempt every"
            " destination",
            id="merged-default-route",
        ),
        pytest.param(
            {"extraNonMasqueradeCidrs": '["fd00::/8"]'},
            "ip-masq-agent:extraNonMasqueradeCidrs[0]: 'fd00::/8' is IPv6 "
            "but the cluster is not dual-stack",
            id="ipv6-without-dual-stack",
        ),
        pytest.param(
            {"podsCidr": "fd20::/64"},
            "ip-masq-agent:podsCidr: 'fd20::/64' must be IPv4",
            id="ipv6-pods",
        ),
        pytest.param(
            {"ipv6UlaRange": "fd00::/48"},
            "ip-masq-agent:ipv6UlaRange: 'fd00::/48' must be a /48 inside fd20::/20",
            id="ula-outside-gcp-pool",
        ),
        pytest.param(
            {"ipv6UlaRange": "10.0.0.0/8"},
            "ip-masq-agent:ipv6UlaRange: '10.0.0.0/8' must be an IPv6 range",
            id="ula-ipv4",
        ),
        pytest.param(
            {"controlPlaneCidr": "172.16.0.0/24"},
            "ip-masq-agent:controlPlaneCidr: '172.16.0.0/24' must be a /28",
            id="control-plane-size",
        ),
        pytest.param(
            {"cidrLimit": "2"},
            "cidrLimit: the ranges merge into 3 nonMasqueradeCIDRs, 1 more than cidrLimit 2",
            id="over-limit",
        ),
        pytest.param(
            {"cidrLimit": "many"},
            "ip-masq-agent:cidrLimit: 'many' is not an integer",
            id="limit-type",
        ),
        pytest.param(
            {"resyncInterval": "soon"},
            "ip-masq-agent:resyncInterval: 'soon' is not a positive duration",
            id="duration",
        ),
        pytest.param(
            {"privateNodes": "yes"},
            "ip-masq-agent:privateNodes: 'yes' is not a boolean",
            id="boolean",
        ),
        pytest.param(
            {"dataplane": "v3"},
            "ip-masq-agent:dataplane: 'v3' is not one of legacy, v2",
            id="dataplane",
        ),
        pytest.param(
            {"backend": "ebpf"},
            "ip-masq-agent:backend: 'ebpf' is not one of auto, iptables, nftables, iptables-nft,"
            " iptables-legacy",
            id="backend",
        ),
        pytest.param(
            {"platform": "eks"},
            "ip-masq-agent:platform: 'eks' is not one of gke-standard, gke-managed-agent,"
            " gke-dataplane-v2, gke-autopilot",
            id="platform",
        ),
        pytest.param(
            {"clusterName": ""},
            "ip-masq-agent:clusterName: required when cluster is gke",
            id="cluster-name",
        ),
        pytest.param(
            {"servicesCidr": ""},
            "ip-masq-agent:servicesCidr: required when cluster is gke",
            id="services-required",
        ),
        pytest.param(
            {"existingSubnet": "my-subnet"},
            "ip-masq-agent:existingSubnet: 'my-subnet' is not projects/",
            id="subnet-path",
        ),
        pytest.param(
            {"existingSubnet": "projects/p/regions/r/subnetworks/s"},
            "ip-masq-agent:subnetCidr: '10.0.0.0/20' must be absent with existingSubnet",
            id="subnet-and-ranges",
        ),
        pytest.param(
            {"extraNonMasqueradeCidrs": "10.0.0.0/8"},
            "ip-masq-agent:extraNonMasqueradeCidrs: '10.0.0.0/8' is not a list of strings",
            id="list-type",
        ),
        pytest.param(
            {"podsRangeName": "services"},
            "ip-masq-agent:servicesRangeName: 'services' equals podsRangeName",
            id="range-names",
        ),
        pytest.param(
            {"colour": "blue"},
            "ip-masq-agent:colour: unknown config key (see Pulumi.yaml)",
            id="unknown-key",
        ),
        pytest.param(
            {"cidrlimit": "10"},
            "ip-masq-agent:cidrlimit: unknown config key (did you mean cidrLimit?)",
            id="misspelt-key",
        ),
        pytest.param(
            {"masqLinkLocalV6": "true"},
            "ip-masq-agent:masqLinkLocalV6: unknown config key (did you mean masqLinkLocalIpv6?)",
            id="near-key",
        ),
    ],
)
def test_rejections(raw: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({**GKE, **raw}, gcp=REGION)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_gke_needs_a_region_unless_adopting() -> None:
    with pytest.raises(SettingsError, match=r"^gcp:region: required"):
        parse_settings(GKE)
    adopted = parse_settings(
        {"clusterName": "c", "existingSubnet": "projects/p/regions/us-east1/subnetworks/s"}
    )
    assert adopted.existing_subnet is not None
    assert adopted.existing_subnet.region == "us-east1"


def test_existing_cluster_needs_image_and_pods() -> None:
    with pytest.raises(SettingsError, match=r"^ip-masq-agent:image: required"):
        parse_settings({"cluster": "existing", "podsCidr": "10.244.0.0/16"})
    with pytest.raises(SettingsError, match=r"^ip-masq-agent:podsCidr: required"):
        parse_settings({"cluster": "existing", "image": "x"})
    configmap_only = parse_settings(
        {"cluster": "existing", "podsCidr": "10.244.0.0/16", "platform": "gke-managed-agent"}
    )
    assert not configmap_only.runs_daemon_set


EXISTING = {"cluster": "existing", "podsCidr": "10.244.0.0/16", "image": "x"}


@pytest.mark.parametrize(
    ("raw", "cluster", "platform"),
    [
        pytest.param({**GKE}, "gke", Platform.GKE_STANDARD, id="standard"),
        pytest.param({**GKE, "dataplane": "v2"}, "gke", Platform.GKE_DATAPLANE_V2, id="v2"),
        pytest.param({**GKE, "autopilot": "true"}, "gke", Platform.GKE_AUTOPILOT, id="autopilot"),
        pytest.param(
            {**GKE, "autopilot": "true", "platform": "gke-autopilot", "dataplane": "v2"},
            "gke",
            Platform.GKE_AUTOPILOT,
            id="autopilot-explicit",
        ),
        pytest.param(
            {**GKE, "platform": "gke-managed-agent"},
            "gke",
            Platform.GKE_MANAGED_AGENT,
            id="managed",
        ),
        pytest.param(
            {**EXISTING, "platform": "gke-autopilot", "image": ""},
            "existing",
            Platform.GKE_AUTOPILOT,
            id="existing-autopilot",
        ),
    ],
)
def test_platform_follows_the_cluster(
    raw: dict[str, str], cluster: str, platform: Platform
) -> None:
    settings = parse_settings(raw, gcp=REGION)
    assert (settings.cluster, settings.platform) == (cluster, platform)
    assert settings.dataplane == ("v2" if "v2" in platform or "autopilot" in platform else "legacy")
    assert settings.deprecations == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            {"autopilot": "true", "platform": "gke-dataplane-v2"},
            "ip-masq-agent:platform: 'gke-dataplane-v2' contradicts autopilot: true",
            id="autopilot-v2",
        ),
        pytest.param(
            {"platform": "gke-autopilot"},
            "ip-masq-agent:platform: 'gke-autopilot' contradicts autopilot: false",
            id="standard-autopilot",
        ),
        pytest.param(
            {"dataplane": "v2", "platform": "gke-standard"},
            "ip-masq-agent:platform: 'gke-standard' contradicts dataplane: v2",
            id="v2-standard",
        ),
        pytest.param(
            {"platform": "gke-dataplane-v2"},
            "ip-masq-agent:platform: 'gke-dataplane-v2' contradicts dataplane: legacy",
            id="legacy-v2",
        ),
        pytest.param(
            {"deployAgent": "false", "platform": "gke-standard"},
            "ip-masq-agent:platform: 'gke-standard' contradicts deployAgent: false",
            id="deploy-agent",
        ),
        pytest.param(
            {"autopilot": "true", "dataplane": "legacy"},
            "ip-masq-agent:dataplane: 'legacy' but autopilot is true",
            id="autopilot-legacy",
        ),
        pytest.param(
            {"platform": "existing", "cluster": "gke"},
            "ip-masq-agent:platform: 'existing' (its old meaning, now the cluster key) "
            "contradicts cluster 'gke'",
            id="old-platform-against-cluster",
        ),
        pytest.param(
            {"cluster": "eks"},
            "ip-masq-agent:cluster: 'eks' is not one of gke, existing",
            id="cluster",
        ),
    ],
)
def test_platform_contradicting_the_cluster_is_refused(raw: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({**GKE, **raw}, gcp=REGION)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_old_keys_still_work_for_one_release_with_a_note() -> None:
    old = parse_settings({**EXISTING, "cluster": "", "platform": "existing"})
    assert (old.cluster, old.platform) == ("existing", Platform.GKE_STANDARD)
    [note] = old.deprecations
    assert note.startswith("ip-masq-agent:platform: 'existing' is deprecated")
    assert "set ip-masq-agent:cluster: existing instead" in note
    managed = parse_settings({**GKE, "deployAgent": "false"}, gcp=REGION)
    assert managed.platform is Platform.GKE_MANAGED_AGENT
    [note] = managed.deprecations
    assert "ip-masq-agent:platform: gke-managed-agent" in note


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("forceMasqueradeCidrs", '["10.200.0.0/16"]'),
        ("image", "registry.example/agent:1"),
        ("backend", "nftables"),
        ("resyncInterval", "30s"),
        ("cidrLimit", "32"),
        ("masqLinkLocal", "true"),
        ("masqLinkLocalIpv6", "true"),
        ("monitoring", "podmonitor"),
        ("monitoring", "gmp"),
        ("grafanaDashboard", "true"),
        ("monitoringLabels", '["team=net"]'),
    ],
)
def test_agent_settings_on_autopilot_name_the_key(key: str, value: str) -> None:
    raw = {**GKE, "autopilot": "true", key: value}
    if key == "grafanaDashboard":
        raw["monitoring"] = "podmonitor"
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, gcp=REGION)
    message = str(caught.value)
    assert message.startswith("ip-masq-agent:"), message
    assert "platform gke-autopilot runs no agent" in message
    assert "\n" not in message


def test_dataplane_v2_runs_no_daemon_set() -> None:
    assert not parse_settings({**GKE, "dataplane": "v2"}, gcp=REGION).runs_daemon_set


def test_force_masquerade_cidrs_reach_the_agent_document() -> None:
    raw = {
        **GKE,
        "extraNonMasqueradeCidrs": '["10.0.0.0/8"]',
        "forceMasqueradeCidrs": '["10.200.0.0/16", "10.200.5.0/24"]',
    }
    settings = parse_settings(raw, gcp=REGION)
    assert settings.force_masquerade_cidrs == ("10.200.0.0/16", "10.200.5.0/24")
    values = settings.agent_config_values(("10.0.0.0/8",))
    assert values.force_masquerade_cidrs == ("10.200.0.0/16", "10.200.5.0/24")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            '["10.200.0.1/16"]',
            "ip-masq-agent:forceMasqueradeCidrs[0]: '10.200.0.1/16' has host bits set",
            id="host-bits",
        ),
        pytest.param(
            '["10.200.0.0/16", "fd00::/32"]',
            "ip-masq-agent:forceMasqueradeCidrs[1]: 'fd00::/32' is IPv6 but the stack is not"
            " dual-stack (no ipv6UlaRange)",
            id="ipv6-single-stack",
        ),
        pytest.param(
            "10.200.0.0/16",
            "ip-masq-agent:forceMasqueradeCidrs: '10.200.0.0/16' is not a list of strings",
            id="not-a-list",
        ),
        pytest.param(
            '["10.4.0.0/14"]',
            "ConfigMap kube-system/ip-masq-agent: forceMasqueradeCIDRs[0]: 10.4.0.0/14 is also"
            " in nonMasqueradeCIDRs[2]",
            id="same-cidr-kept",
        ),
    ],
)
def test_force_masquerade_rejections(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({**GKE, "forceMasqueradeCidrs": value}, gcp=REGION)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [
        ("agentImage", "image", "registry.example/agent:1"),
        ("agentBackend", "backend", "nftables"),
        ("masqLinkLocalIPv6", "masqLinkLocalIpv6", "true"),
    ],
)
def test_a_renamed_key_still_works_one_release_with_a_warning(
    old: str, new: str, value: str
) -> None:
    # One name per setting (the component argument's schema name); the old one is read, noted.
    renamed = parse_settings({**EXISTING, new: value})
    before = parse_settings({**{k: v for k, v in EXISTING.items() if k != new}, old: value})
    assert dataclasses.replace(before, deprecations=()) == renamed
    assert before.deprecations == (
        f"ip-masq-agent:{old} is deprecated and goes in the next release:"
        f" rename it to ip-masq-agent:{new}",
    )
    with pytest.raises(SettingsError, match=rf"^ip-masq-agent:{old}: .* contradicts {new} "):
        parse_settings({**EXISTING, new: value, old: "other"})


def test_gkes_managed_agent_at_the_default_limit_is_not_bounded_by_it() -> None:
    # The component writes a cidrLimit the list fits for GKE's agent; the stack's pre-check
    # must not refuse what the component accepts.
    extras = json.dumps([f"100.{2 * i}.0.0/16" for i in range(70)])  # none adjacent
    managed = {**EXISTING, "platform": "gke-managed-agent", "extraNonMasqueradeCidrs": extras}
    settings = parse_settings(managed)
    assert settings.fitted_cidr_limit
    with pytest.raises(SettingsError, match=r"cidrLimit: the ranges merge into 7\d"):
        parse_settings({**managed, "platform": "gke-standard"})
    with pytest.raises(SettingsError, match=r"cidrLimit: the ranges merge into 7\d"):
        parse_settings({**managed, "cidrLimit": "65"})
