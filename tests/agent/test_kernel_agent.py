"""The agent on a real kernel: packets checked on the far side, live reload, drift repair, stop."""

import signal
import subprocess
import time
from pathlib import Path

import pytest

from netlab.lab import Lab, Namespace
from netlab.topology import SingleNode
from tests.agent.kernel_helpers import (
    CHAIN,
    KubeletVolume,
    agent_argv,
    chain_rules,
    counts,
    health_get,
    save,
    wait_until,
)

pytestmark = pytest.mark.kernel


def _once(node: Namespace, *args: str) -> subprocess.CompletedProcess[str]:
    # These tests read iptables-save; tests/dataplane/test_agent_backends.py runs every backend.
    return node.run(*agent_argv("--once", "--backend=iptables", *args), check=False)


def test_traffic_outcomes_ipv4_and_ipv6_and_link_local_flag(lab: Lab, tmp_path: Path) -> None:
    topo = SingleNode(lab)
    a = topo.addresses
    volume = KubeletVolume(tmp_path)
    volume.write("nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\n")
    done = _once(topo.node, f"--config={volume.path}", "--enable-ipv6")
    assert done.returncode == 0, done.stderr
    seen = topo.seen_from_pod("vpc", "internet", "link-local", "vpc6", "internet6")
    assert seen == {
        "vpc": a.pod,  # non-masquerade CIDR: the pod's own address arrives
        "internet": a.node,  # everything else leaves with the node's address
        "link-local": a.pod,  # link-local is kept by default (masqLinkLocal: false)
        "vpc6": a.pod6,
        "internet6": a.node6,
    }
    assert topo.seen_from_pod("internet", "vpc", proto="tcp") == {"internet": a.node, "vpc": a.pod}

    # masqLinkLocal flips link-local to masquerade; running again (a restart) adds nothing.
    volume.write("nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\nmasqLinkLocal: true\n")
    done = _once(topo.node, f"--config={volume.path}", "--enable-ipv6")
    assert done.returncode == 0, done.stderr
    # Conntrack remembers the earlier flow's (un)NAT decision: a TCP probe is a fresh flow.
    assert topo.seen_from_pod("link-local", "vpc", proto="tcp") == {
        "link-local": a.node,
        "vpc": a.pod,
    }
    for tool in ("iptables", "ip6tables"):
        assert counts(save(topo.node, tool)) == (1, 1), tool


def test_invalid_config_in_once_mode_exits_non_zero_and_writes_nothing(
    lab: Lab, tmp_path: Path
) -> None:
    node = lab.namespace("node")
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.0.0.1/8]\n")
    before = save(node)
    done = _once(node, f"--config={config}")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"ip-masq-agent: sync failed: {config}: nonMasqueradeCIDRs[0]: '10.0.0.1/8' has host bits"
        " set (the network is 10.0.0.0/8); no good config yet"
    )
    assert save(node) == before


def test_running_agent_reloads_repairs_and_stops(lab: Lab, tmp_path: Path) -> None:
    topo = SingleNode(lab)
    node, a = topo.node, topo.addresses
    volume = KubeletVolume(tmp_path)
    volume.write("nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 60s\n")
    port = 10261
    agent = lab.spawn(
        node,
        *agent_argv(
            "--backend=iptables", f"--config={volume.path}", f"--health-address=127.0.0.1:{port}"
        ),
    )
    assert wait_until(lambda: counts(save(node)) == (1, 1), 10) is not None
    assert wait_until(lambda: health_get(node, port, "/readyz")[0] == 200, 5) is not None
    assert topo.seen_from_pod("internet", proto="tcp") == {"internet": a.node}

    # A kubelet-style symlink swap is live within a second (resync is 60 s: the watcher did it).
    volume.write("nonMasqueradeCIDRs: [10.0.0.0/8, 203.0.113.0/24]\nresyncInterval: 60s\n")
    took = wait_until(lambda: any("203.0.113.0/24" in r for r in chain_rules(save(node))), 1.0)
    assert took is not None, "config edit not live within 1 s"
    assert topo.seen_from_pod("internet", proto="tcp") == {"internet": a.pod}

    # An invalid config changes nothing in the kernel and shows in /healthz.
    before = save(node)
    volume.write("nonMasqueradeCIDRs: [10.0.0.0/8, '203.0.113.0/24 -j ACCEPT']\n")
    assert (
        wait_until(lambda: "is not a CIDR" in health_get(node, port, "/healthz")[1], 2) is not None
    )
    assert save(node) == before
    status, body = health_get(node, port, "/healthz")
    assert status == 200 and "keeping the last good config" in body

    # Drift repair: with a 1 s resync, a deleted jump and a deleted chain come back.
    volume.write("nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1s\n")
    assert wait_until(lambda: len(chain_rules(save(node))) == 3, 1.0) is not None
    good = save(node)
    jump = next(line for line in good.splitlines() if line.startswith("-A POSTROUTING"))
    node.run("iptables-restore", "-w", "--noflush", input=f"*nat\n-D{jump[2:]}\nCOMMIT\n")
    assert counts(save(node)) == (1, 0)
    assert wait_until(lambda: save(node) == good, 3) is not None
    node.run(
        "iptables-restore",
        "-w",
        "--noflush",
        input=f"*nat\n-D{jump[2:]}\n-F {CHAIN}\n-X {CHAIN}\nCOMMIT\n",
    )
    assert counts(save(node)) == (0, 0)
    assert wait_until(lambda: save(node) == good, 3) is not None
    _, metrics = health_get(node, port, "/metrics")
    assert 'ip_masq_agent_rules_rewritten_total{reason="drift"} 2.0' in metrics
    assert 'ip_masq_agent_config_reloads_total{result="invalid"} 1.0' in metrics

    # SIGTERM: gone within a second, rules left in place.
    agent.send_signal(signal.SIGTERM)
    started = time.monotonic()
    agent.wait(timeout=5)
    assert time.monotonic() - started < 1.0
    assert agent.returncode == 0
    assert save(node) == good
