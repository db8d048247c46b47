"""Every backend predicts exactly what the kernel shows once it holds the desired rules.

Drift is judged against that prediction, so a wrong one would mean a rewrite at every resync
(or, worse, a difference overlooked): checked on the real tools for every golden case and for
the shapes the tools print their own way (a long wrapped set, /32 and IPv4-mapped entries).
"""

import ipaddress

import pytest

from ip_masq_agent.backends.registry import BackendSettings, default_backend_registry
from ip_masq_agent.commands import SubprocessRunner
from ip_masq_agent.rules import FAMILIES, Masquerade, PortRange
from testbed.netlab.lab import Lab
from tests.agent.kernel.backend_views import VIEWS
from tests.agent.nftables_cases import CASES, Case

pytestmark = pytest.mark.kernel

_MANY = ", ".join(
    str(ipaddress.ip_network(f"10.{i // 256}.{i % 256}.0/24")) for i in range(0, 1200, 3)
)
EXTRA = (
    Case(
        "tools-print-their-own-way",
        f"nonMasqueradeCIDRs: [{_MANY}, 192.0.2.7/32, '::ffff:198.51.100.0/120',"
        " '2001:db8::1/128']\n"
        "cidrLimit: 1000\n",
        enable_ipv6=True,
        masquerade=Masquerade(
            random_fully=True, to_ports=(PortRange(1024, 2000), PortRange(3000, 4000))
        ),
    ),
)


@pytest.mark.parametrize("backend", list(VIEWS))
def test_observe_after_apply_is_the_expected_view(lab: Lab, backend: str) -> None:
    ns = lab.namespace("node")
    registry = default_backend_registry()
    settings = BackendSettings("IP-MASQ-AGENT", FAMILIES, SubprocessRunner(ns.prefix))
    agent = registry.create(backend, settings)
    for case in (*CASES, *EXTRA):
        desired = case.desired()
        if not case.enable_ipv6:  # the agent plans both families with --enable-ipv6
            desired = Case(case.id, case.config, True, case.masquerade).desired()
        agent.apply(desired)
        assert agent.observe() == agent.expected(desired), case.id
    # And any change to what the rules do is a difference.
    VIEWS[backend].tampers["hook"](ns)
    assert agent.observe() != agent.expected(desired)
