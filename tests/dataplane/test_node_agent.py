"""The agent's sandbox command line: the DaemonSet's args with only the sandbox's flags replaced."""

from netlab.node_agent import HEALTH_ADDRESS, METRICS_ADDRESS, sandbox_agent_args

DAEMON_SET_ARGS = [
    "--masq-chain=IP-MASQ-AGENT",
    "--backend=auto",
    "--enable-ipv6",
    "--health-address=0.0.0.0:10263",
    "--metrics-address=0.0.0.0:10264",
    "--v=2",
]


def test_only_config_health_and_metrics_addresses_change() -> None:
    args = sandbox_agent_args(DAEMON_SET_ARGS, config_path="/tmp/x/ip-masq-agent")
    assert args == [
        "--masq-chain=IP-MASQ-AGENT",
        "--backend=auto",
        "--enable-ipv6",
        "--v=2",
        "--config=/tmp/x/ip-masq-agent",
        f"--health-address={HEALTH_ADDRESS}",
        f"--metrics-address={METRICS_ADDRESS}",
    ]


def test_backend_override_replaces_the_daemon_sets() -> None:
    args = sandbox_agent_args(DAEMON_SET_ARGS, config_path="/c", backend="iptables-legacy")
    assert [a for a in args if a.startswith("--backend")] == ["--backend=iptables-legacy"]
