"""The IpMasqAgent component alone, under Pulumi's mocks (fresh context and event loop per run)."""

from collections.abc import Callable
from typing import Any

import pulumi
import pytest
import yaml

from ip_masq_agent.backends.registry import default_backend_registry
from ip_masq_agent.config import MAX_PLANNED_CIDRS, parse_config
from ip_masq_agent.contract import CONFIG_DIR, CONFIG_MAP_KEY, CONFIG_MAP_NAME
from ip_masq_agent.flags import parse_flags
from pulumi_ip_masq_agent.agent_options import Backend
from pulumi_ip_masq_agent.arguments import ResolvedInputError
from pulumi_ip_masq_agent.daemon_set import AGENT_HEALTH_PORT, DAEMON_SET_NAME, agent_args
from pulumi_ip_masq_agent.ip_masq_agent import Dataplane, IpMasqAgent, IpMasqAgentArgs
from pulumi_ip_masq_agent.platform import Platform
from pulumi_ip_masq_agent.ranges import Range, concat_ranges
from testbed.harness.offline import RenderError, RenderResult, run_under_mocks


def three_ranges() -> list[Range]:
    return [
        Range(cidr="10.0.0.0/20", label="nodes"),
        Range(cidr="10.4.0.0/14", label="pods"),
        Range(cidr="10.0.16.0/20", label="services"),
    ]


def args(**overrides: Any) -> IpMasqAgentArgs:
    base: IpMasqAgentArgs = {
        "ranges": three_ranges(),
        "image": "registry.example/ip-masq-agent:1",
    }
    base.update(overrides)  # type: ignore[typeddict-item]
    return base


def run(make_args: Callable[[], IpMasqAgentArgs]) -> RenderResult:
    # Outputs belong to the run's event loop: build the args inside the program.
    def program() -> None:
        agent = IpMasqAgent("agent", make_args())
        pulumi.export("cidrs", agent.non_masquerade_cidrs)
        pulumi.export("configMapName", agent.config_map_name)
        pulumi.export("daemonSetName", agent.daemon_set_name)

    return run_under_mocks(program, stack="test", config={})


def document(result: RenderResult) -> dict[str, Any]:
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    loaded: dict[str, Any] = yaml.safe_load(configmap.inputs["data"][CONFIG_MAP_KEY])
    return loaded


def test_configmap_document_from_output_ranges() -> None:
    # Ranges given as Outputs, as the network component hands them over.
    def make_args() -> IpMasqAgentArgs:
        ranges = concat_ranges(
            pulumi.Output.from_input([Range(cidr="10.0.0.0/20", label="nodes")]),
            [Range(cidr=pulumi.Output.from_input("10.4.0.0/14"), label="pods")],
            [Range(cidr="10.0.16.0/20", label="services")],
        )
        return args(ranges=ranges, masq_link_local=True, resync_interval="5m", cidr_limit=10)

    result = run(make_args)
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    text = configmap.inputs["data"][CONFIG_MAP_KEY]
    assert yaml.safe_load(text) == {
        "nonMasqueradeCIDRs": ["10.0.0.0/19", "10.4.0.0/14"],
        "masqLinkLocal": True,
        "masqLinkLocalIPv6": False,
        "resyncInterval": "5m",
        "cidrLimit": 10,
    }
    parsed = parse_config(text, enable_ipv6=False)
    assert parsed.resync_interval == 300
    assert result.outputs == {
        "cidrs": ["10.0.0.0/19", "10.4.0.0/14"],
        "configMapName": CONFIG_MAP_NAME,
        "daemonSetName": DAEMON_SET_NAME,
    }
    (component,) = result.of_type("ip-masq-agent:index:IpMasqAgent")
    assert component.name == "agent"


def test_only_ranges_and_image_given_means_upstream_defaults() -> None:
    result = run(args)
    assert document(result) == {
        "nonMasqueradeCIDRs": ["10.0.0.0/19", "10.4.0.0/14"],
        "masqLinkLocal": False,
        "masqLinkLocalIPv6": False,
        "resyncInterval": "60s",
        "cidrLimit": 64,
    }
    (daemon_set,) = result.of_type("kubernetes:apps/v1:DaemonSet")
    (container,) = daemon_set.inputs["spec"]["template"]["spec"]["containers"]
    assert container["args"] == agent_args(enable_ipv6=False, backend="auto")


def test_ipv6_needs_the_cluster_declared_dual_stack() -> None:
    ranges = [*three_ranges(), Range(cidr="fd20:a:b::/48", label="VPC ULA")]
    result = run(lambda: args(ranges=ranges, enable_ipv6=True))
    assert document(result)["nonMasqueradeCIDRs"][-1] == "fd20:a:b::/48"
    (daemon_set,) = result.of_type("kubernetes:apps/v1:DaemonSet")
    (container,) = daemon_set.inputs["spec"]["template"]["spec"]["containers"]
    assert "--enable-ipv6" in container["args"]
    # Not declared: an error naming the range, never --enable-ipv6 turned on by itself.
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=r"^IpMasqAgent agent: ranges: VPC ULA: 'fd20:a:b::/48' is IPv6 but the cluster is "
        r"not dual-stack \(enable_ipv6\)$",
    ):
        run(lambda: args(ranges=ranges))


# Each mistake a user made in their own program, and the one line it now gets.
BAD_ARGUMENTS = [
    pytest.param(
        {"deployDaemonSet": False},
        "deployDaemonSet: unknown argument (did you mean deploy_daemon_set?)",
        id="schema-spelling",
    ),
    pytest.param(
        {"cidrlimit": 1}, "cidrlimit: unknown argument (did you mean cidr_limit?)", id="case"
    ),
    pytest.param(
        {"resync": "5m"},
        "resync: unknown argument (did you mean resync_interval?)",
        id="near-miss",
    ),
    pytest.param(
        {"ranges": "10.0.0.0/8"},
        "ranges: '10.0.0.0/8' is a str, not a list (write ['10.0.0.0/8'])",
        id="ranges-a-string",
    ),
    pytest.param({"ranges": []}, "ranges: empty (at least one is needed)", id="ranges-empty"),
    pytest.param({"image": ""}, "image: '' is empty or not a string", id="image-empty"),
    pytest.param(
        {"backend": "nft"},
        "backend: 'nft' is not one of auto, iptables, nftables, iptables-nft, iptables-legacy",
        id="backend",
    ),
    pytest.param(
        {"platform": "gke"},
        "platform: 'gke' is not one of gke-standard, gke-managed-agent, gke-dataplane-v2,"
        " gke-autopilot",
        id="platform",
    ),
    pytest.param(
        {"resources": {"limits": {"memory": "64Mi"}}},
        "resources.limits.memory: '64Mi' is below the 96Mi the agent's largest accepted config"
        " needs",
        id="memory-below-the-measured-need",
    ),
    pytest.param(
        {"backend": "nftables", "resources": {"limits": {"memory": "128Mi"}}},
        "resources.limits.memory: '128Mi' is below the 160Mi the agent's largest accepted config"
        " needs",
        id="memory-below-the-measured-need-on-nftables",
    ),
    pytest.param(
        {"resources": {"limit": {"cpu": "1"}}},
        "resources: {'limit': {'cpu': '1'}} is not requests/limits",
        id="resources-misspelt",
    ),
    pytest.param({"cidr_limit": -1}, "cidr_limit: -1 is not a whole number >= 0", id="limit"),
    pytest.param({"cidr_limit": True}, "cidr_limit: True is not a whole number >= 0", id="bool"),
    pytest.param(
        {"force_masquerade_cidrs": "10.1.0.0/16"},
        "force_masquerade_cidrs: '10.1.0.0/16' is a str, not a list (write ['10.1.0.0/16'])",
        id="exceptions-a-string",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_ARGUMENTS)
def test_a_bad_argument_is_one_line_naming_it_before_anything_is_registered(
    overrides: dict[str, Any], message: str
) -> None:
    registered: list[str] = []

    def program() -> None:
        try:
            IpMasqAgent("agent", {**args(), **overrides})  # type: ignore[typeddict-item]
        except ValueError as err:
            registered.append(f"error: {err}")

    result = run_under_mocks(program, stack="test", config={})
    assert registered == [f"error: IpMasqAgent agent: {message}"]
    assert result.resources == ()


def test_ipv6_range_with_ipv6_switched_off_names_the_argument_and_the_label() -> None:
    ranges = [Range(cidr="fd20:a:b::/48", label="VPC ULA", origin="Network vpc")]
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=r"^IpMasqAgent agent: ranges: VPC ULA of Network vpc: 'fd20:a:b::/48' is IPv6 "
        r"but the cluster is not dual-stack \(enable_ipv6\)$",
    ):
        run(lambda: args(ranges=ranges, enable_ipv6=False))


def test_two_ranges_with_one_label_are_both_kept() -> None:
    # Concatenated, never keyed: a repeated label cannot drop a range.
    ranges = [Range(cidr="10.0.0.0/20", label="pods"), Range(cidr="10.8.0.0/14", label="pods")]
    result = run(lambda: args(ranges=ranges))
    assert document(result)["nonMasqueradeCIDRs"] == ["10.0.0.0/20", "10.8.0.0/14"]


@pytest.mark.parametrize(
    ("overrides", "daemon_sets"),
    [
        pytest.param({}, 1, id="default-gke-standard"),
        pytest.param({"platform": Platform.GKE_STANDARD}, 1, id="gke-standard"),
        pytest.param({"platform": "gke-managed-agent"}, 0, id="gke-managed-agent"),
        pytest.param({"platform": "gke-dataplane-v2"}, 0, id="gke-dataplane-v2"),
        pytest.param({"deploy_daemon_set": False}, 0, id="deprecated-configmap-only"),
        pytest.param({"dataplane": Dataplane.V2}, 0, id="deprecated-dataplane-v2"),
        pytest.param({"dataplane": "v2"}, 0, id="deprecated-dataplane-v2-text"),
        pytest.param({"dataplane": "legacy"}, 1, id="deprecated-dataplane-legacy"),
    ],
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_what_is_deployed(overrides: dict[str, Any], daemon_sets: int) -> None:
    result = run(lambda: args(**overrides))
    assert len(result.of_type("kubernetes:apps/v1:DaemonSet")) == daemon_sets
    assert len(result.of_type("kubernetes:core/v1:ConfigMap")) == 1
    if not daemon_sets:
        assert result.outputs["daemonSetName"] is None


def test_configmap_only_needs_no_image() -> None:
    result = run(lambda: {"ranges": three_ranges(), "platform": Platform.GKE_DATAPLANE_V2})
    assert document(result)["nonMasqueradeCIDRs"] == ["10.0.0.0/19", "10.4.0.0/14"]


@pytest.mark.parametrize(
    ("old", "platform"),
    [
        pytest.param({"dataplane": "v2"}, "gke-dataplane-v2", id="dataplane"),
        pytest.param({"deploy_daemon_set": False}, "gke-managed-agent", id="deploy_daemon_set"),
    ],
)
def test_deprecated_arguments_warn_naming_the_platform(old: dict[str, Any], platform: str) -> None:
    with pytest.warns(DeprecationWarning) as caught:
        run(lambda: {"ranges": three_ranges(), **old})  # type: ignore[typeddict-item]
    [key] = old
    [message] = [str(w.message) for w in caught if str(w.message).startswith("IpMasqAgent")]
    assert message == (
        f"IpMasqAgent agent: {key} is deprecated and goes in the next release: "
        f"use platform {platform!r}"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"platform": "gke-standard", "dataplane": "v2"},
            "IpMasqAgent agent: platform 'gke-standard' contradicts the deprecated dataplane 'v2'"
            " (which mean 'gke-dataplane-v2'): drop dataplane",
            id="dataplane",
        ),
        pytest.param(
            {"platform": "gke-standard", "deploy_daemon_set": False},
            "IpMasqAgent agent: platform 'gke-standard' contradicts the deprecated"
            " deploy_daemon_set false (which mean 'gke-managed-agent'): drop deploy_daemon_set",
            id="deploy_daemon_set",
        ),
        pytest.param(
            {"platform": "gke-autopilot", "dataplane": "v2"},
            "IpMasqAgent agent: platform 'gke-autopilot' contradicts the deprecated dataplane",
            id="autopilot",
        ),
        pytest.param(
            {"platform": "aks"},
            "IpMasqAgent agent: platform: 'aks' is not one of gke-standard, gke-managed-agent,"
            " gke-dataplane-v2, gke-autopilot",
            id="unknown",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_platform_errors_are_one_line(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        run(lambda: {"ranges": three_ranges(), **overrides})  # type: ignore[typeddict-item]
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_managed_agent_states_a_cidr_limit_the_list_fits() -> None:
    many = [Range(cidr=f"10.{i}.0.0/24", label=f"peer {i}") for i in range(0, 140, 2)]
    result = run(lambda: {"ranges": many, "platform": Platform.GKE_MANAGED_AGENT})
    loaded = document(result)
    assert len(loaded["nonMasqueradeCIDRs"]) == 70
    assert loaded["cidrLimit"] == 70
    small = document(
        run(lambda: {"ranges": three_ranges(), "platform": Platform.GKE_MANAGED_AGENT})
    )
    assert small["cidrLimit"] == 64
    with pytest.raises(
        (ResolvedInputError, RenderError), match=r"cidr_limit: the ranges merge into 70"
    ):
        run(lambda: {"ranges": many, "platform": Platform.GKE_MANAGED_AGENT, "cidr_limit": 64})


@pytest.mark.parametrize("key", ["deploy_daemon_set", "dataplane", "platform"])
def test_an_output_for_a_deciding_argument_is_a_type_error(key: str) -> None:
    value = {"deploy_daemon_set": True, "dataplane": "legacy", "platform": "gke-standard"}[key]
    with pytest.raises(TypeError, match=rf"^IpMasqAgent agent: {key} must be a plain .*Output"):
        run(lambda: args(**{key: pulumi.Output.from_input(value)}))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_daemon_set_on_dataplane_v2_is_refused() -> None:
    with pytest.raises(ValueError, match=r"deploy_daemon_set is true but dataplane is v2"):
        run(lambda: args(dataplane="v2", deploy_daemon_set=True))


def test_missing_image_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^IpMasqAgent agent: image is required"):
        run(lambda: {"ranges": three_ranges()})


def test_bad_range_inside_the_component_names_the_argument_and_label() -> None:
    ranges = [Range(cidr="10.4.0.1/14", label="pods", origin="Subnetwork net")]
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=r"^IpMasqAgent agent: ranges: pods of Subnetwork net: '10.4.0.1/14' has host bits",
    ):
        run(lambda: args(ranges=ranges))


def test_ranges_merging_into_a_default_route_are_refused_by_the_component() -> None:
    ranges = [
        *three_ranges(),
        Range(cidr="::/1", label="low half", origin="peering"),
        Range(cidr="8000::/1", label="high half", origin="peering"),
    ]
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=r"^IpMasqAgent agent: ranges: low half of peering, high half of peering: '::/1',"
        r" '8000::/1' merge into ::/0, which would exempt every destination from masquerading$",
    ):
        run(lambda: args(ranges=ranges, enable_ipv6=True))


def test_not_a_range_names_its_index() -> None:
    with pytest.raises(
        (TypeError, RenderError), match=r"^IpMasqAgent agent: ranges\[1\]: '10.0.0.0/8' is not"
    ):
        run(lambda: args(ranges=[three_ranges()[0], "10.0.0.0/8"]))


def test_agent_args() -> None:
    assert agent_args(enable_ipv6=True, backend="nftables") == [
        "--masq-chain=IP-MASQ-AGENT",
        "--backend=nftables",
        "--enable-ipv6",
        f"--health-address=127.0.0.1:{AGENT_HEALTH_PORT}",
        "--v=0",
    ]
    assert "--enable-ipv6" not in agent_args(enable_ipv6=False, backend="auto")


@pytest.mark.parametrize("backend", ["auto", "iptables", "nftables"])
@pytest.mark.parametrize("enable_ipv6", [False, True])
def test_the_agent_accepts_the_container_args(backend: str, enable_ipv6: bool) -> None:
    # The agent's own flag parser and backend registry judge the command line we deploy.
    options = parse_flags(agent_args(enable_ipv6=enable_ipv6, backend=backend))
    assert options.command == "run"
    assert options.masq_chain == "IP-MASQ-AGENT"
    assert options.enable_ipv6 is enable_ipv6
    assert options.backend == backend
    assert options.health_address == f"127.0.0.1:{AGENT_HEALTH_PORT}"
    assert options.config_path == f"{CONFIG_DIR}/ip-masq-agent"
    assert backend in default_backend_registry().names()


def test_configmap_carries_force_masquerade_cidrs_given_as_outputs() -> None:
    def make_args() -> IpMasqAgentArgs:
        exceptions = pulumi.Output.from_input(["10.4.0.0/24"]).apply(
            lambda cidrs: [*cidrs, "10.0.16.128/25"]
        )
        return args(force_masquerade_cidrs=exceptions)

    result = run(make_args)
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    text = configmap.inputs["data"][CONFIG_MAP_KEY]
    assert yaml.safe_load(text)["forceMasqueradeCIDRs"] == ["10.4.0.0/24", "10.0.16.128/25"]
    parsed = parse_config(text, enable_ipv6=False)
    assert [str(c) for c in parsed.force_masquerade_cidrs] == ["10.4.0.0/24", "10.0.16.128/25"]
    assert parsed.warnings == ()


@pytest.mark.parametrize("exceptions", [None, []], ids=["absent", "empty"])
def test_without_exceptions_the_document_has_no_force_masquerade_key(
    exceptions: list[str] | None,
) -> None:
    extra = {} if exceptions is None else {"force_masquerade_cidrs": exceptions}
    result = run(lambda: args(**extra))
    (configmap,) = result.of_type("kubernetes:core/v1:ConfigMap")
    assert "forceMasqueradeCIDRs" not in yaml.safe_load(configmap.inputs["data"][CONFIG_MAP_KEY])


def test_an_exception_equal_to_a_kept_cidr_fails_the_preview_naming_it() -> None:
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=r"forceMasqueradeCIDRs\[0\]: 10\.4\.0\.0/14 is also in",
    ):
        run(lambda: args(force_masquerade_cidrs=["10.4.0.0/14"]))


def test_a_range_known_only_as_an_output_fails_with_its_one_line_unwrapped() -> None:
    # The SDK wraps a ValueError from an input in two lines of its own ("While processing
    # input ..."); the component's error is a RunError, so the user reads this line alone.
    def ranges() -> list[Range]:
        cidr = pulumi.Output.from_input("10.4.0.1/14")  # in the run's own event loop
        return [Range(cidr=cidr, label="pods", origin="Subnetwork net")]

    with pytest.raises(ResolvedInputError) as caught:
        run(lambda: args(ranges=ranges()))
    assert str(caught.value) == (
        "IpMasqAgent agent: ranges: pods of Subnetwork net: '10.4.0.1/14' has host bits set"
        " (the network is 10.4.0.0/14)"
    )


def test_exceptions_expanding_past_the_agents_limit_fail_the_preview_with_the_count() -> None:
    # 200 host exceptions scattered over fd00::/8: a small list, ~22,000 rules on a node.
    exceptions = [f"fd{i:02x}:{i:x}::{i:x}/128" for i in range(1, 201)]
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=rf"forceMasqueradeCIDRs: its 200 exceptions split nonMasqueradeCIDRs into \d+"
        rf" CIDRs \(one rule each\), more than the agent's limit of {MAX_PLANNED_CIDRS:,}"
        " on backend auto",
    ):
        run(
            lambda: args(
                ranges=[Range(cidr="fd00::/8", label="ula")],
                force_masquerade_cidrs=exceptions,
                cidr_limit=300,
                enable_ipv6=True,
            )
        )


@pytest.mark.parametrize("backend", ["nftables", "iptables-nft"])
def test_the_planned_cidr_limit_is_the_backends(backend: str) -> None:
    # ~22,000 planned CIDRs: within nftables' 50,000, past the iptables backends' 20,000.
    exceptions = [f"fd{i:02x}:{i:x}::{i:x}/128" for i in range(1, 201)]

    def agent_args() -> IpMasqAgentArgs:
        return args(
            ranges=[Range(cidr="fd00::/8", label="ula")],
            force_masquerade_cidrs=exceptions,
            cidr_limit=300,
            enable_ipv6=True,
            backend=Backend(backend),
        )

    if backend == "nftables":
        assert document(run(agent_args))["forceMasqueradeCIDRs"] == exceptions
        return
    with pytest.raises(
        (ResolvedInputError, RenderError),
        match=rf"more than the agent's limit of 20,000 on backend {backend} \(what fits its"
        r" memory limit\); use fewer or wider exceptions, or use the nftables backend"
        r" \(up to 50,000\) or merge ranges into wider ones",
    ):
        run(agent_args)


def test_daemon_set_knobs_reach_the_pod_spec() -> None:
    result = run(
        lambda: args(
            resources={"limits": {"memory": "128Mi"}, "requests": {"cpu": "20m"}},
            log_verbosity=2,
            node_selector={"pool": "general"},
            tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            priority_class_name="agents",
            image_pull_secrets=["registry-pull"],
        )
    )
    (daemon_set,) = result.of_type("kubernetes:apps/v1:DaemonSet")
    pod = daemon_set.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "20m", "memory": "32Mi"},
        "limits": {"cpu": "1", "memory": "128Mi"},
    }
    assert "--v=2" in container["args"]
    assert pod["nodeSelector"] == {"pool": "general", "kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["priorityClassName"] == "agents"
    assert pod["imagePullSecrets"] == [{"name": "registry-pull"}]
    # The defaults: every taint tolerated, node-critical, quiet.
    (default,) = run(args).of_type("kubernetes:apps/v1:DaemonSet")
    pod = default.inputs["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["priorityClassName"] == "system-node-critical"
    assert "--v=0" in pod["containers"][0]["args"]
