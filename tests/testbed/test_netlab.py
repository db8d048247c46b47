"""The lab itself: probes report real sources, and nothing is left behind."""

import subprocess

import pytest

from testbed.netlab.lab import Lab
from testbed.netlab.topology import SingleNode

pytestmark = pytest.mark.kernel


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def test_without_nat_the_world_sees_the_pod(lab: Lab) -> None:
    topo = SingleNode(lab)
    a = topo.addresses
    seen = topo.seen_from_pod("vpc", "internet", "link-local")
    assert seen == {"vpc": a.pod, "internet": a.pod, "link-local": a.pod}
    assert topo.seen_from_pod("vpc6", "internet6") == {"vpc6": a.pod6, "internet6": a.pod6}
    assert topo.seen_from_pod("internet6", proto="tcp") == {"internet6": a.pod6}


def test_a_masquerade_rule_changes_what_the_world_sees(lab: Lab) -> None:
    topo = SingleNode(lab)
    topo.node.run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE")
    seen = topo.seen_from_pod("internet", proto="tcp")
    assert seen == {"internet": topo.addresses.node}


def test_close_removes_namespaces_even_after_an_error(kernel_available: None) -> None:
    # Only this lab's namespaces: other runs on the machine create and remove their own.
    with pytest.raises(RuntimeError), Lab() as lab:
        SingleNode(lab)
        assert len({n for n in _namespaces() if n.startswith(lab.token)}) == 3
        raise RuntimeError("boom")
    assert not {n for n in _namespaces() if n.startswith(lab.token)}
