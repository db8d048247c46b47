"""The contract's values: upstream's where compatibility depends on them, and consistent."""

from ip_masq_agent import contract
from ip_masq_agent.backends.registry import default_backend_registry
from ip_masq_agent.duration import parse_go_duration


def test_upstream_names_and_paths_are_upstreams() -> None:
    # Upstream's manifests: ConfigMap kube-system/ip-masq-agent, key `config` projected to the
    # file `ip-masq-agent` under /etc/config; GKE's managed agent and Dataplane V2 read the same.
    assert contract.CONFIG_MAP_NAME == "ip-masq-agent"
    assert contract.CONFIG_MAP_NAMESPACE == "kube-system"
    assert contract.CONFIG_MAP_KEY == "config"
    assert contract.DEFAULT_CONFIG_PATH == "/etc/config/ip-masq-agent"
    assert contract.DEFAULT_CHAIN == "IP-MASQ-AGENT"


def test_defaults_are_upstreams() -> None:
    assert contract.DEFAULT_CIDR_LIMIT == 64
    assert contract.DEFAULT_RESYNC_SECONDS == 60.0
    assert parse_go_duration(contract.DEFAULT_RESYNC_INTERVAL) == contract.DEFAULT_RESYNC_SECONDS


def test_ports_are_loopback_and_apart() -> None:
    assert f"127.0.0.1:{contract.HEALTH_PORT}" == contract.DEFAULT_HEALTH_ADDRESS
    assert f"127.0.0.1:{contract.METRICS_PORT}" == contract.DEFAULT_METRICS_ADDRESS
    assert len({contract.HEALTH_PORT, contract.METRICS_PORT}) == 2
    assert contract.LOOPBACK_IPV4 in contract.LOOPBACK_HOSTS
    assert contract.LOOPBACK_IPV6 in contract.LOOPBACK_HOSTS


def test_backend_names_are_the_registrys() -> None:
    assert set(contract.BACKEND_NAMES) == set(default_backend_registry().names())
    assert set(contract.IPTABLES_FLAVORS) < set(contract.BACKEND_NAMES)
