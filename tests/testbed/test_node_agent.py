"""The agent's sandbox command line: the DaemonSet's args as kubelet runs them, the volume ours."""

from testbed.netlab.node_agent import HEALTH_ADDRESS, METRICS_ADDRESS, local_url, sandbox_agent_args

DAEMON_SET_ARGS = [
    "--masq-chain=IP-MASQ-AGENT",
    "--backend=auto",
    "--enable-ipv6",
    "--health-address=0.0.0.0:10263",
    "--metrics-address=0.0.0.0:10264",
    "--v=2",
]


def test_only_the_config_path_changes() -> None:
    args = sandbox_agent_args(DAEMON_SET_ARGS, config_path="/tmp/x/ip-masq-agent")
    assert args == [*DAEMON_SET_ARGS, "--config=/tmp/x/ip-masq-agent"]


def test_addresses_the_daemon_set_leaves_out_are_the_agents_loopback_defaults() -> None:
    args = sandbox_agent_args(["--backend=auto", "--v=2"], config_path="/c")
    assert args == [
        "--backend=auto",
        "--v=2",
        "--config=/c",
        f"--health-address={HEALTH_ADDRESS}",
        f"--metrics-address={METRICS_ADDRESS}",
    ]


def test_env_references_are_expanded_as_kubelet_does() -> None:
    daemon_set = ["--health-address=127.0.0.1:10261", "--metrics-address=$(NODE_IP):10262"]
    args = sandbox_agent_args(daemon_set, config_path="/c", env={"NODE_IP": "10.128.0.2"})
    assert "--metrics-address=10.128.0.2:10262" in args
    # An unknown variable stays as written (kubelet's rule): the agent then refuses it.
    assert "--metrics-address=$(NODE_IP):10262" in sandbox_agent_args(daemon_set, config_path="/c")


def test_an_explicit_health_address_replaces_the_daemon_sets() -> None:
    args = sandbox_agent_args(DAEMON_SET_ARGS, config_path="/c", health_address="127.0.0.1:1")
    assert [a for a in args if a.startswith("--health-address")] == ["--health-address=127.0.0.1:1"]


def test_local_url_of_a_wildcard_address_is_loopback() -> None:
    assert local_url("0.0.0.0:10263", "/healthz") == "http://127.0.0.1:10263/healthz"
    assert local_url("10.1.2.3:10262", "/metrics") == "http://10.1.2.3:10262/metrics"
    assert local_url("[::1]:10261", "/readyz") == "http://[::1]:10261/readyz"


def test_backend_override_replaces_the_daemon_sets() -> None:
    args = sandbox_agent_args(DAEMON_SET_ARGS, config_path="/c", backend="iptables-legacy")
    assert [a for a in args if a.startswith("--backend")] == ["--backend=iptables-legacy"]
