"""`--backend auto` on namespaces prepared the way kubelet, kube-proxy or an old node leave them."""

import pytest

from ip_masq_agent.backends.detect import detect_backend
from ip_masq_agent.commands import SubprocessRunner
from testbed.netlab.lab import Lab

pytestmark = pytest.mark.kernel

_LEGACY_RULES = [
    ["iptables-legacy", "-A", "FORWARD", "-s", f"10.{n}.0.0/16", "-j", "ACCEPT"] for n in range(3)
]

PREPARED = {
    "kubelet-hint-nft": (
        [["iptables-nft", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"]],
        "nftables",
    ),
    "kubelet-canary-nft-ipv6": (
        [["ip6tables-nft", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY"]],
        "nftables",
    ),
    "kubelet-hint-legacy": (
        [
            ["iptables-legacy", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT"],
            ["iptables-nft", "-A", "FORWARD", "-j", "ACCEPT"],
        ],
        "iptables-legacy",
    ),
    "hints-in-both-nft-first": (
        [
            ["iptables-legacy", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY"],
            ["iptables-nft", "-t", "mangle", "-N", "KUBE-KUBELET-CANARY"],
        ],
        "nftables",
    ),
    "no-hint-more-legacy-rules": (
        [*_LEGACY_RULES, ["iptables-nft", "-A", "FORWARD", "-j", "ACCEPT"]],
        "iptables-legacy",
    ),
    "kube-proxy-nftables-mode": (
        [["nft", "add", "table", "ip", "kube-proxy"], *_LEGACY_RULES],
        "nftables",
    ),
    "empty-node": ([], "nftables"),
    # Our own leftovers from a forced legacy run must not pull the decision towards legacy.
    "own-legacy-chain-ignored": (
        [
            ["iptables-legacy", "-t", "nat", "-N", "IP-MASQ-AGENT"],
            ["iptables-legacy", "-t", "nat", "-A", "IP-MASQ-AGENT", "-j", "MASQUERADE"],
            ["iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-j", "IP-MASQ-AGENT"],
        ],
        "nftables",
    ),
}


@pytest.mark.parametrize("prepared", PREPARED, ids=list(PREPARED))
def test_auto_detection(lab: Lab, prepared: str) -> None:
    commands, expected = PREPARED[prepared]
    ns = lab.namespace("node")
    for command in commands:
        ns.run(*command)
    detection = detect_backend(SubprocessRunner(ns.prefix), own_chain="IP-MASQ-AGENT")
    assert detection.backend == expected, detection.reason
