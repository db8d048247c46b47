"""The agent as a process on a real kernel, once per backend: outcomes, reload, repair, switch."""

import signal
import time
from pathlib import Path

import pytest

from ip_masq_agent.contract import CONFIG_FILE_NAME
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import agent_argv
from testbed.netlab.topology import SingleNode
from tests.agent.kernel.backend_views import VIEWS, BackendView
from tests.agent.kernel.kernel_helpers import wait_until

pytestmark = pytest.mark.kernel

BACKENDS = list(VIEWS)


@pytest.fixture(params=BACKENDS)
def view(request: pytest.FixtureRequest) -> BackendView:
    return VIEWS[request.param]


def _once(node: Namespace, backend: str, *args: str) -> str:
    done = node.run(*agent_argv("--once", f"--backend={backend}", *args), check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_traffic_outcomes_link_local_flags_and_idempotent_restart(
    lab: Lab, tmp_path: Path, view: BackendView
) -> None:
    topo = SingleNode(lab)
    a = topo.addresses
    volume = ConfigMapVolume(tmp_path, key=CONFIG_FILE_NAME)
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\n")
    _once(topo.node, view.name, f"--config={volume.path}", "--enable-ipv6")
    expected = {
        "vpc": a.pod,
        "internet": a.node,
        "link-local": a.pod,
        "vpc6": a.pod6,
        "internet6": a.node6,
    }
    assert topo.seen_from_pod(*expected) == expected
    assert topo.seen_from_pod("internet", "vpc6", proto="tcp") == {
        "internet": a.node,
        "vpc6": a.pod6,
    }
    # A restart with the same config writes nothing new: the kernel shows exactly the same.
    first = view.state(topo.node)
    _once(topo.node, view.name, f"--config={volume.path}", "--enable-ipv6")
    assert view.state(topo.node) == first

    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\nmasqLinkLocal: true\n")
    _once(topo.node, view.name, f"--config={volume.path}", "--enable-ipv6")
    # TCP: a fresh conntrack entry, not the UDP flow NATed (or not) a moment ago.
    assert topo.seen_from_pod("link-local", "vpc", "internet6", proto="tcp") == {
        "link-local": a.node,
        "vpc": a.pod,
        "internet6": a.node6,
    }


def test_once_with_an_invalid_config_exits_1_and_writes_nothing(
    lab: Lab, tmp_path: Path, view: BackendView
) -> None:
    node = lab.namespace("node")
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.0.0.1/8]\n")
    done = node.run(
        *agent_argv("--once", f"--backend={view.name}", f"--config={config}"), check=False
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"ip-masq-agent: sync failed: {config}: nonMasqueradeCIDRs[0]: '10.0.0.1/8' has host bits"
        " set (the network is 10.0.0.0/8); no good config yet"
    )
    assert view.state(node) == ""


def test_running_agent_reloads_keeps_good_config_and_repairs_tampering(
    lab: Lab, tmp_path: Path, view: BackendView
) -> None:
    topo = SingleNode(lab)
    node, a = topo.node, topo.addresses
    volume = ConfigMapVolume(tmp_path / "volume", key=CONFIG_FILE_NAME)
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 60s\n")
    address = "127.0.0.1:10261"
    agent = lab.spawn(
        node,
        *agent_argv(
            f"--backend={view.name}", f"--config={volume.path}", f"--health-address={address}"
        ),
        output=tmp_path / "agent.log",
    )
    assert wait_until(lambda: view.holds(node, "10.0.0.0/8"), 10) is not None
    assert wait_until(lambda: fetch(node, f"http://{address}/readyz")[0] == 200, 5) is not None
    assert topo.seen_from_pod("internet", "vpc", proto="tcp") == {"internet": a.node, "vpc": a.pod}

    # Live through kubelet's symlink swap within a second although the resync is 60 s: the
    # watcher did it. Each look costs one `nft list`/`-save` (~20 ms), not the agent's time.
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8, 203.0.113.0/24]\nresyncInterval: 1s\n")
    assert wait_until(lambda: view.holds(node, "203.0.113.0/24"), 1.0) is not None
    assert topo.seen_from_pod("internet", proto="tcp") == {"internet": a.pod}

    # An invalid config (a rule smuggled into a list entry) changes nothing in the kernel,
    # across several resyncs, and shows in /healthz (its state; the log says what is wrong).
    good = view.state(node)
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8, '0.0.0.0/0 -j ACCEPT']\nresyncInterval: 1s\n")
    # Loose bounds below (5 s for a 1 s resync): a loaded CI machine must not fail them.
    healthz = f"http://{address}/healthz"
    assert wait_until(lambda: "config: invalid" in fetch(node, healthz)[1], 5) is not None
    time.sleep(1.2)
    assert view.state(node) == good
    assert "ACCEPT" not in good and "0.0.0.0/0" not in good
    assert topo.seen_from_pod("internet", proto="tcp") == {"internet": a.pod}
    status, body = fetch(node, healthz)
    assert status == 200 and "keeping the last good config" in body
    assert "0.0.0.0/0" not in body and "10.0.0.0/8" not in body  # no config text, no CIDRs
    assert "is not a CIDR" in (tmp_path / "agent.log").read_text()

    # Every kind of tampering is repaired at the next resync (1 s).
    for kind, tamper in view.tampers.items():
        tamper(node)
        assert view.state(node) != good, kind
        assert wait_until(lambda: view.state(node) == good, 5) is not None, kind
    _, metrics = fetch(node, "http://127.0.0.1:10262/metrics")  # the default --metrics-address
    assert 'ip_masq_agent_rules_rewritten_total{reason="drift"} 3.0' in metrics
    assert 'ip_masq_agent_config_reloads_total{result="invalid"} 1.0' in metrics
    assert f'ip_masq_agent_backend_info{{backend="{view.name}"}} 1.0' in metrics

    # SIGTERM: gone within a second, rules left in place (pods keep working).
    agent.send_signal(signal.SIGTERM)
    started = time.monotonic()
    agent.wait(timeout=5)
    assert time.monotonic() - started < 1.0
    assert agent.returncode == 0
    assert view.state(node) == good
    for _ in range(2):  # cleanup is idempotent and leaves nothing
        done = node.run(*agent_argv("cleanup", f"--backend={view.name}"), check=False)
        assert done.returncode == 0, done.stderr
        assert view.state(node) == ""
    assert topo.seen_from_pod("internet", proto="tcp") == {"internet": a.pod}


def test_a_writer_racing_the_agent_is_repaired_within_a_resync_after_it_stops(
    lab: Lab, tmp_path: Path, view: BackendView
) -> None:
    node = lab.namespace("node")
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1s\n")
    lab.spawn(
        node,
        *agent_argv(f"--backend={view.name}", f"--config={config}", "--health-address="),
        output=tmp_path / "agent.log",
    )
    assert wait_until(lambda: view.holds(node, "10.0.0.0/8"), 10) is not None
    good = view.state(node)
    # Another writer flushes our chain in a tight loop for 2 s: some flushes land between
    # the agent's write and its look at the result (bounded: 2 s, at most 2000 rounds).
    flush = " ".join(view.flush)
    loop = (
        "end=$(($(date +%s) + 2)); i=0;"
        f' while [ "$(date +%s)" -lt "$end" ] && [ $i -lt 2000 ]; do {flush}; i=$((i+1)); done'
    )
    node.run("sh", "-c", loop, timeout=15)
    # Once it stops, the next resync (1 s; a loaded machine gets 5) repairs, and it stays.
    assert wait_until(lambda: view.state(node) == good, 5) is not None, (
        tmp_path / "agent.log"
    ).read_text()[-2000:]
    time.sleep(1.5)
    assert view.state(node) == good


def test_foreign_rules_with_non_utf8_comments_do_not_stop_the_agent(
    lab: Lab, tmp_path: Path, view: BackendView
) -> None:
    node = lab.namespace("node")
    # argv is encoded with surrogateescape: this is the single byte 0xe9 (Latin-1 "é").
    comment = ["-m", "comment", "--comment", "caf\udce9"]
    for tool in ("iptables-nft", "iptables-legacy"):
        node.run(tool, "-t", "nat", "-A", "POSTROUTING", *comment, "-j", "ACCEPT")
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    _once(node, view.name, f"--config={config}")  # start, remove others, apply, observe
    assert view.holds(node, "10.0.0.0/8")
    for tool in ("iptables-nft", "iptables-legacy"):
        assert "caf\udce9" in node.run(f"{tool}-save", "-t", "nat").stdout, tool


def test_switching_backends_leaves_no_trace_of_the_previous_one(lab: Lab, tmp_path: Path) -> None:
    topo = SingleNode(lab)
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    # Every ordered pair of backends occurs once in this walk.
    walk = ["nftables", "iptables-nft", "iptables-legacy", "nftables", "iptables-legacy"]
    walk += ["iptables-nft", "nftables"]
    for backend in walk:
        log = _once(topo.node, backend, f"--config={config}")
        for name, other in VIEWS.items():
            assert (other.state(topo.node) != "") == (name == backend), (backend, name, log)
        assert topo.seen_from_pod("internet", "vpc") == {
            "internet": topo.addresses.node,
            "vpc": topo.addresses.pod,
        }


def test_auto_follows_the_kubelet_hint_end_to_end(lab: Lab, tmp_path: Path) -> None:
    topo = SingleNode(lab)
    topo.node.run("iptables-legacy", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT")
    log = _once(topo.node, "auto", f"--config={tmp_path / 'absent'}")
    assert 'event="backend detected" backend=iptables-legacy' in log
    assert VIEWS["iptables-legacy"].state(topo.node) != ""
    assert VIEWS["nftables"].state(topo.node) == VIEWS["iptables-nft"].state(topo.node) == ""
    assert topo.seen_from_pod("internet", "vpc") == {
        "internet": topo.addresses.node,
        "vpc": topo.addresses.pod,
    }


def test_an_address_it_cannot_listen_on_exits_before_any_rule_is_written(
    lab: Lab, tmp_path: Path, view: BackendView
) -> None:
    # The agent binds its addresses before its first sync (it answers only after it): a bad
    # one is a one-line exit with the node untouched, not rules written by an agent that dies.
    node = lab.namespace("node")
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    # 192.0.2.1 (TEST-NET-1) is on no interface of the namespace: binding it fails, no packet.
    done = node.run(
        *agent_argv(
            f"--backend={view.name}", f"--config={config}", "--health-address=192.0.2.1:10261"
        ),
        check=False,
        timeout=20,
    )
    assert done.returncode == 1, done.stderr
    assert "-health-address: cannot listen on 192.0.2.1:10261" in done.stderr
    assert view.state(node) == ""
