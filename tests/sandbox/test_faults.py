"""Faults on the sandbox cluster, judged by the sources seen on the far side, sampled throughout."""

import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ip_masq_agent.config import ConfigError, parse_config
from testbed.netlab.nat_state import nat_fingerprint
from testbed.netlab.node_agent import NodeAgent
from testbed.sandbox.cluster_agents import SandboxCluster
from tests.sandbox.conftest import SandboxFactory, rendered
from tests.sandbox.watch import PacketWatch, either_for_new_peer, new_peer_kept

pytestmark = pytest.mark.kernel

RESYNC = 2.0  # the stack's resyncInterval in these tests (conftest.FAST_RESYNC)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll (bounded) until `check()`; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


def grew(read: Callable[[], float], start: float) -> Callable[[], bool]:
    return lambda: read() > start


def metric(agent: NodeAgent, name: str, default: float | None = None, **labels: str) -> float:
    """One sample's value; `default` for a labelled counter not incremented yet."""
    for family in text_string_to_metric_families(agent.metrics()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    if default is not None:
        return default
    raise AssertionError(f"metric {name}{labels} not exported")


def with_new_peer(sandbox: SandboxCluster) -> str:
    """The stack re-rendered with the new peer's range among its extras."""
    return rendered("local", (str(sandbox.plan.new_peer),), fast_resync=True).config_text


@pytest.fixture
def running(make_sandbox: SandboxFactory) -> SandboxCluster:
    return make_sandbox(rendered("local", fast_resync=True), backend="iptables")


@pytest.fixture
def watch(running: SandboxCluster, tmp_path: Path) -> Iterator[PacketWatch]:
    packets = PacketWatch(running, tmp_path)
    yield packets
    packets.stop()


def _bad_configs(good: str) -> dict[str, bytes]:
    cut = good.index("/", good.index("- ")) + 1  # inside the first CIDR: "- 10.96.0.0/"
    line = "  - 10.0.0.0/8\n"
    configs = {
        "bad CIDR": b"nonMasqueradeCIDRs:\n  - 10.0.0.0/33\n",
        "truncated YAML": good[:cut].encode(),
        "empty file": b"",
        "5 MB file": ("nonMasqueradeCIDRs:\n" + line * (5_000_000 // len(line))).encode(),
        "binary garbage": bytes(random.Random(5).randrange(256) for _ in range(4096)),
    }
    for name, raw in configs.items():
        with pytest.raises((ConfigError, UnicodeDecodeError)):
            parse_config(raw.decode(), enable_ipv6=False)  # the fixture really is invalid
        del name
    return configs


def test_invalid_config_on_one_node_keeps_its_last_good_rules(
    running: SandboxCluster, watch: PacketWatch
) -> None:
    node0, node1 = running.agents["node0"], running.agents["node1"]
    before = {n: nat_fingerprint(a.ns, "iptables") for n, a in running.agents.items()}
    started = time.time()

    def invalid_seen() -> float:
        return metric(node0, "ip_masq_agent_config_reloads_total", 0.0, result="invalid")

    for name, raw in _bad_configs(running.stack.config_text).items():
        counted = invalid_seen()
        running.volumes["node0"].publish(raw)
        wait_for(f"{name}: node0 counts the bad config", grew(invalid_seen, counted))
        status, body = node0.healthz()
        # Healthy (the rules are right) and saying why the new file is not used.
        assert status == 200 and "keeping the last good config" in body, f"{name}: {body}"
        assert metric(node0, "ip_masq_agent_config_current") == 0, name
        watch.wait_rounds(2)
        assert nat_fingerprint(node0.ns, "iptables") == before["node0"], name
        status, body = node1.healthz()
        assert status == 200 and "config: current" in body, f"{name}: node1 {body}"
    assert metric(node0, "ip_masq_agent_config_reloads_total", result="invalid") >= 5
    assert metric(node1, "ip_masq_agent_config_current") == 1
    assert {n: nat_fingerprint(a.ns, "iptables") for n, a in running.agents.items()} == before
    running.volumes["node0"].publish(running.stack.config_text)
    wait_for("node0 back on its config", lambda: "config: current" in node0.healthz()[1])
    watch.wait_rounds(2)
    assert watch.violations(since=started) == []


def test_configmap_removed_keeps_the_last_good_config(
    running: SandboxCluster, watch: PacketWatch
) -> None:
    # Upstream falls back to its built-in defaults when the file goes; we keep the stack's
    # last good config (defaults could masquerade ranges the stack said to keep) and say so.
    node0 = running.agents["node0"]
    before = nat_fingerprint(node0.ns, "iptables")
    started = time.time()
    running.volumes["node0"].withdraw()
    wait_for("node0 reports the missing file", lambda: "disappeared" in node0.healthz()[1])
    assert metric(node0, "ip_masq_agent_config_current") == 0
    time.sleep(RESYNC + 0.5)  # a full resync with the file gone changes nothing either
    watch.wait_rounds(2)
    assert nat_fingerprint(node0.ns, "iptables") == before
    assert watch.violations(since=started) == []


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_sigkill_mid_apply_leaves_old_or_new_rules_never_a_mix(
    make_sandbox: SandboxFactory, tmp_path: Path, backend: str
) -> None:
    running = make_sandbox(rendered("local", fast_resync=True), backend=backend)
    watch = PacketWatch(running, tmp_path)
    node0 = running.agents["node0"]
    node0.kill()
    configs = [running.stack.config_text, with_new_peer(running)]
    fingerprints = []
    for text in configs:  # the two rule sets, as a completed sync leaves them
        running.volumes["node0"].publish(text)
        node0.once()
        fingerprints.append(nat_fingerprint(node0.ns, backend))
    assert fingerprints[0] != fingerprints[1]
    started = time.time()
    took = time.monotonic()
    node0.once()
    one_run = time.monotonic() - took
    # Kills spread over start-up and the apply. Load moves the write's moment from start to
    # start, so the window follows it: wider after a kill that came before the write,
    # narrower after one that came after, within fixed bounds around one measured run.
    window, narrowest, widest = one_run * 1.5, one_run * 0.5, max(one_run * 6, 2.0)
    rng = random.Random(50)
    outcomes = {"old": 0, "new": 0}
    for kill in range(50):
        target = fingerprints[kill % 2]  # alternate: each start has a rule set to write
        running.volumes["node0"].publish(configs[kill % 2])
        before = nat_fingerprint(node0.ns, backend)
        node0.start()
        time.sleep(rng.uniform(0, window))
        node0.kill(signal.SIGKILL)
        now = nat_fingerprint(node0.ns, backend)
        assert now in fingerprints, f"kill {kill}: neither the old nor the new rule set:\n{now}"
        if before != target:
            landed = "new" if now == target else "old"
            outcomes[landed] += 1
            window = min(widest, window * 1.3) if landed == "old" else max(narrowest, window / 1.3)
    # Killed before and after the write: the window really spans the apply.
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes
    print(
        f"kills before the write: {outcomes['old']}, after: {outcomes['new']}; window {window:.2f}s"
    )
    node0.start()
    node0.wait_ready()
    wait_for(
        "restarted agent converges",
        lambda: nat_fingerprint(node0.ns, backend) == fingerprints[49 % 2],
    )
    watch.wait_rounds(2)
    assert watch.violations(either_for_new_peer, since=started) == []
    settled = time.time()
    watch.wait_rounds(2)
    assert watch.violations(new_peer_kept, since=settled, nodes=["node0"]) == []


# What "another process" does to each backend's rules: flush iptables' nat table, or delete
# every nftables table of the node (ours included).
TAMPER = {
    "iptables": (("iptables", "-t", "nat", "-F"),),
    "nftables": (("nft", "flush", "ruleset"),),
}


@pytest.mark.parametrize("backend", sorted(TAMPER))
def test_tampered_rules_are_repaired_within_one_resync(
    make_sandbox: SandboxFactory, tmp_path: Path, backend: str
) -> None:
    running = make_sandbox(rendered("local", fast_resync=True), backend=backend)
    watch = PacketWatch(running, tmp_path)
    node0 = running.agents["node0"]
    repaired_state = nat_fingerprint(node0.ns, backend)

    def syncs() -> float:
        return metric(node0, "ip_masq_agent_syncs_total", result="ok")

    # Tamper just after a resync: the next one, which repairs, is a whole interval away, so
    # the probes surely see the damage first (a random moment could fall just before it).
    wait_for("a resync", grew(syncs, syncs()), timeout=RESYNC + 2)
    flushed_at = time.time()
    for argv in TAMPER[backend]:
        node0.ns.run(*argv)
    # The damage is real: the internet sees a pod address until the agent repairs it.
    wait_for(
        "internet sees the pod while the rules are gone",
        lambda: any(v.probe.target == "internet" for v in watch.violations(since=flushed_at)),
    )
    took = wait_for(
        "rules repaired",
        lambda: nat_fingerprint(node0.ns, backend) == repaired_state,
        timeout=RESYNC + 2,
    )
    assert took <= RESYNC + 1
    repaired = time.time()
    watch.wait_rounds(3)
    assert watch.violations(since=repaired + 0.2) == []
    assert metric(node0, "ip_masq_agent_rules_rewritten_total", reason="drift") >= 1
    watch.stop()


def test_hundred_changes_in_a_second_are_coalesced_and_end_on_the_last(
    running: SandboxCluster, watch: PacketWatch
) -> None:
    node0 = running.agents["node0"]
    base = yaml.safe_load(running.stack.config_text)
    rewrites_before = metric(node0, "ip_masq_agent_rules_rewritten_total", 0.0, reason="config")
    started = time.time()
    for change in range(100):
        # On a schedule, not a fixed sleep: a loaded machine still fits the 100 into a second.
        time.sleep(max(0.0, started + change / 100 - time.time()))
        document = dict(base)
        document["nonMasqueradeCIDRs"] = [*base["nonMasqueradeCIDRs"], f"10.250.{change}.0/24"]
        if change == 99:
            document["nonMasqueradeCIDRs"].append(str(running.plan.new_peer))
        running.volumes["node0"].publish(yaml.safe_dump(document))
    burst = time.time() - started
    assert burst < 1.2
    assert node0.healthz()[0] == 200  # answers at once after the burst
    wait_for(
        "the last change is in the kernel",
        lambda: str(running.plan.new_peer) in nat_fingerprint(node0.ns, "iptables"),
    )
    last_state = nat_fingerprint(node0.ns, "iptables")
    assert "10.250.99.0/24" in last_state and "10.250.98.0/24" not in last_state
    rewrites = (
        metric(node0, "ip_masq_agent_rules_rewritten_total", 0.0, reason="config") - rewrites_before
    )
    assert 1 <= rewrites < 50, rewrites  # coalesced, not one write per change
    settled = time.time()
    watch.wait_rounds(2)
    assert watch.violations(either_for_new_peer, since=started) == []
    assert watch.violations(new_peer_kept, since=settled, nodes=["node0"]) == []


def test_held_xtables_lock_delays_the_sync_without_half_writes(
    make_sandbox: SandboxFactory, tmp_path: Path
) -> None:
    # iptables-legacy is the flavour that takes /run/xtables.lock. The lock file is the
    # machine's, not the namespace's: hold it for 3 s only.
    sandbox = make_sandbox(rendered("local", fast_resync=True), backend="iptables-legacy")
    watch = PacketWatch(sandbox, tmp_path)
    try:
        node0 = sandbox.agents["node0"]
        old_state = nat_fingerprint(node0.ns, "iptables-legacy")
        locked_at = time.time()
        holder = subprocess.Popen(["flock", "/run/xtables.lock", "sleep", "3"])
        try:
            time.sleep(0.2)
            changed_at = time.time()
            sandbox.volumes["node0"].publish(with_new_peer(sandbox))
            time.sleep(1.5)  # the agent is waiting for the lock now
            assert node0.healthz()[0] == 200  # responsive while it waits
            assert nat_fingerprint(node0.ns, "iptables-legacy") == old_state
        finally:
            holder.wait(timeout=10)
        released = locked_at + 3.0  # sleep's own clock; holder.wait returns a little later
        wait_for(
            "sync completes after the lock is released",
            lambda: nat_fingerprint(node0.ns, "iptables-legacy") != old_state,
        )
        assert str(sandbox.plan.new_peer) in nat_fingerprint(node0.ns, "iptables-legacy")
        watch.wait_rounds(2)
        # Until the lock went, every packet saw the old rules: the sync waited, wrote nothing.
        assert watch.violations(since=changed_at, until=released - 0.05) == []
        assert watch.violations(either_for_new_peer, since=released) == []
        settled = time.time()
        watch.wait_rounds(2)
        assert watch.violations(new_peer_kept, since=settled, nodes=["node0"]) == []
    finally:
        watch.stop()
