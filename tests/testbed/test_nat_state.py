"""The sandbox's NAT fingerprint for nftables: equal when the rules act alike, whichever of its
two names a set has, and with the stray set a swap cut short leaves out."""

import pytest

from ip_masq_agent.backends.nftables import NftablesBackend
from ip_masq_agent.commands import SubprocessRunner
from ip_masq_agent.config import parse_config
from ip_masq_agent.rules import DesiredRules, Masquerade, plan_rules
from testbed.netlab.lab import Lab
from testbed.netlab.nat_state import nat_fingerprint

pytestmark = pytest.mark.kernel


def _plan(cidrs: str) -> DesiredRules:
    config = parse_config(f"nonMasqueradeCIDRs: [{cidrs}]\n", enable_ipv6=False)
    return plan_rules(config, chain="IP-MASQ-AGENT", enable_ipv6=False, masquerade=Masquerade())


def test_the_fingerprint_is_what_the_rules_do(lab: Lab) -> None:
    ns = lab.namespace("node")
    backend = NftablesBackend(run=SubprocessRunner(ns.prefix))
    one, other = _plan("10.0.0.0/8"), _plan("10.0.0.0/8, 192.0.2.0/24")
    backend.apply(one)
    first = nat_fingerprint(ns, "nftables")
    assert "nomasq_ipv4" in first and '"len": 8' in first
    backend.apply(one)  # the same rules, now under the set's other name
    assert "nomasq_ipv4_b" in ns.run("nft", "list", "ruleset").stdout
    assert nat_fingerprint(ns, "nftables") == first
    backend.apply(other)
    assert nat_fingerprint(ns, "nftables") != first
    backend.apply(one)  # four writes: the sets are in slot 1 again
    # A set made and never looked up (a swap cut short): the rules still act as before.
    stray = "{ type ipv4_addr; flags interval; elements = { 198.51.100.0/24 } }"
    ns.run("nft", f"add set inet ip-masq-agent nomasq_ipv4 {stray}")
    assert nat_fingerprint(ns, "nftables") == first
    # A set of another name is another table, looked up or not.
    ns.run("nft", f"add set inet ip-masq-agent extra {stray}")
    assert nat_fingerprint(ns, "nftables") != first
