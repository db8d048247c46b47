"""The nftables backend on a real kernel: goldens pass `nft -c`, packets are NATed as planned."""

import ast
import re
import sys
import time
from collections.abc import Sequence

import pytest

from ip_masq_agent.backends.base import ApplyError
from ip_masq_agent.backends.generation_cache import GenerationCachedBackend
from ip_masq_agent.backends.nftables import NftablesBackend
from ip_masq_agent.backends.registry import BackendSettings, default_backend_registry
from ip_masq_agent.commands import CommandResult, SubprocessRunner
from ip_masq_agent.config import parse_config
from ip_masq_agent.nftables_payload import TABLE_MARKER, render_nftables_payload, table_name
from ip_masq_agent.rules import DesiredRules, Masquerade, PortRange, plan_rules
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import agent_argv
from testbed.netlab.topology import ECHO_PORT, SingleNode
from tests.agent.kernel.backend_views import nft_live_set
from tests.agent.nftables_cases import CASES, Case

pytestmark = pytest.mark.kernel


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_nft_check_mode_accepts_every_golden(lab: Lab, case: Case) -> None:
    ns = lab.namespace("check")
    done = ns.run("nft", "-c", "-f", "-", input=case.golden.read_text(), check=False)
    assert done.returncode == 0, done.stderr


def _desired(config: str, *, masquerade: Masquerade | None = None) -> DesiredRules:
    parsed = parse_config(config, enable_ipv6=True)
    return plan_rules(
        parsed, chain="IP-MASQ-AGENT", enable_ipv6=True, masquerade=masquerade or Masquerade()
    )


def test_unaligned_range_element_and_a_family_without_cidrs(lab: Lab) -> None:
    # The agent process on every backend (test_agent_backends) covers the usual outcomes;
    # this is what only the set's merging and the per-family rules decide.
    topo = SingleNode(lab)
    a = topo.addresses
    backend = NftablesBackend(run=SubprocessRunner(topo.node.prefix))
    # Two adjacent /16s that are no single CIDR become one `first-last` range element; the
    # IPv6 set then holds only link-local, so IPv6 VPC traffic is masqueraded.
    backend.apply(_desired("nonMasqueradeCIDRs: [10.127.0.0/16, 10.128.0.0/16]\n"))
    assert "10.127.0.0-10.128.255.255" in backend.observe()
    assert topo.seen_from_pod("vpc", "internet", "vpc6", proto="tcp") == {
        "vpc": a.pod,
        "internet": a.node,
        "vpc6": a.node6,
    }


def test_observe_is_stable_and_cleanup_removes_only_our_table(lab: Lab) -> None:
    ns = lab.namespace("node")
    ns.run("nft", "add", "table", "inet", "someone-else")
    backend = NftablesBackend(run=SubprocessRunner(ns.prefix))
    assert backend.observe() == ""
    desired = _desired("nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.0.0/16, fd00::/8]\n")
    backend.apply(desired)
    first = backend.observe()
    assert "elements = { 10.0.0.0/8, 169.254.0.0/16 }" in first
    backend.apply(desired)
    assert backend.observe() == first
    backend.cleanup()
    backend.cleanup()
    assert backend.observe() == ""
    assert ns.run("nft", "list", "tables").stdout.split() == ["table", "inet", "someone-else"]


_TRANSLATED_PORT = re.compile(r"src=203\.0\.113\.10 dst=10\.128\.0\.2 sport=7777 dport=(\d+)")


def test_to_ports_ranges_are_used_in_proportion(lab: Lab) -> None:
    topo = SingleNode(lab)
    ranges = (PortRange(20000, 20999), PortRange(40000, 40999))
    backend = NftablesBackend(run=SubprocessRunner(topo.node.prefix))
    backend.apply(_desired("{}", masquerade=Masquerade(random_fully=True, to_ports=ranges)))
    flows = 300
    sender = (
        "import socket\n"
        f"for port in range(30000, 30000 + {flows}):\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    s.bind(('', port))\n"
        f"    s.sendto(b'x', ('203.0.113.10', {ECHO_PORT}))\n"
        "    s.close()\n"
    )
    # Distinct source ports: every datagram is a new conntrack entry, NATed on its own.
    topo.pod.run(sys.executable, "-c", sender)
    table = topo.node.run("conntrack", "-L", "-p", "udp").stdout
    ports = [int(p) for p in _TRANSLATED_PORT.findall(table)]
    assert len(ports) == flows
    low = sum(1 for p in ports if 20000 <= p <= 20999)
    high = sum(1 for p in ports if 40000 <= p <= 40999)
    assert low + high == flows
    # Equal sizes: each range near half; 300 draws put both within 90..210 with p > 0.9999.
    assert 90 <= low <= 210


class _TruncatingRunner:
    """Feeds `nft` only the first part of the script, as if a write were cut short."""

    def __init__(self, inner: SubprocessRunner) -> None:
        self._inner = inner

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        if stdin is not None:  # cut after the last `{`: whole table or in-place update alike
            stdin = stdin[: stdin.rindex("{") + 1] + "\n"
        return self._inner(args, stdin=stdin)


def test_a_refused_script_changes_nothing(lab: Lab) -> None:
    """Create, delete and redefine are one transaction: a failure leaves the old table whole."""
    ns = lab.namespace("node")
    backend = NftablesBackend(run=SubprocessRunner(ns.prefix))
    backend.apply(_desired("{}"))
    before = backend.observe()
    cut_short = NftablesBackend(run=_TruncatingRunner(SubprocessRunner(ns.prefix)))
    with pytest.raises(ApplyError, match=r"^nft -f \(table inet ip-masq-agent\): "):
        cut_short.apply(_desired("nonMasqueradeCIDRs: [192.0.2.0/24]\n"))
    assert backend.observe() == before


class _ScriptRecorder:
    def __init__(self, inner: SubprocessRunner) -> None:
        self._inner = inner
        self.scripts: list[str] = []

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        if stdin is not None:
            self.scripts.append(stdin)
        return self._inner(args, stdin=stdin)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_an_in_place_update_leaves_exactly_the_desired_table(lab: Lab, case: Case) -> None:
    ns = lab.namespace("node")
    recorder = _ScriptRecorder(SubprocessRunner(ns.prefix))
    backend = NftablesBackend(run=recorder)
    backend.apply(case.desired())
    # Drift inside the layout: a set emptied, the chain's rules gone, an element more.
    ns.run("nft", "flush", "chain", "inet", "ip-masq-agent", "postrouting")
    ns.run("nft", "flush", "set", "inet", "ip-masq-agent", "nomasq_ipv4")
    ns.run("nft", "add", "element", "inet", "ip-masq-agent", "nomasq_ipv4", "{ 198.51.100.0/24 }")
    backend.apply(case.desired())
    # Created sets first, then the chain; repaired in place: new sets in the other slot,
    # then the chain pointed at them.
    assert "chain" not in recorder.scripts[0] and "set" not in recorder.scripts[1]
    assert recorder.scripts[2].startswith("add set inet ip-masq-agent nomasq_ipv4_b {\n")
    assert recorder.scripts[3].startswith("flush chain inet ip-masq-agent postrouting\n")
    assert nft_live_set(ns, "ipv4") == "nomasq_ipv4_b"
    assert backend.observe() == backend.expected(case.desired())


def test_a_table_changed_after_the_last_observe_is_still_written_right(lab: Lab) -> None:
    ns = lab.namespace("node")
    backend = NftablesBackend(run=SubprocessRunner(ns.prefix))
    desired = _desired("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    backend.apply(desired)
    assert backend.observe() == backend.expected(desired)
    # Deleted after the look: the update fails, and the table is created anew.
    ns.run("nft", "delete", "table", "inet", "ip-masq-agent")
    backend.apply(desired)
    assert backend.observe() == backend.expected(desired)
    # A set more after the look: the update leaves it, which the next look sees, and the
    # write after that replaces the table whole (the sync loop's verify-and-retry).
    ns.run("nft", "add", "set", "inet", "ip-masq-agent", "extra", "{ type ipv4_addr; }")
    backend.apply(desired)
    assert backend.observe() != backend.expected(desired)
    backend.apply(desired)
    assert backend.observe() == backend.expected(desired)


def test_a_swap_cut_short_is_finished_by_the_next_write_not_replaced(lab: Lab) -> None:
    # The new sets made, the chain never pointed at them (the agent killed between the two
    # transactions): a set in each slot, one looked up. A difference the next write mends
    # with a swap that deletes the stray set first; the table is never re-created (which
    # has its moment at commit: test_re_applies_never_masquerade...).
    ns = lab.namespace("node")
    recorder = _ScriptRecorder(SubprocessRunner(ns.prefix))
    backend = NftablesBackend(run=recorder)
    desired = _desired("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    backend.apply(desired)
    ns.run(
        "nft",
        "add set inet ip-masq-agent nomasq_ipv4_b { type ipv4_addr; flags interval;"
        " elements = { 192.0.2.0/24 } }",
    )
    assert backend.observe() != backend.expected(desired)
    written = len(recorder.scripts)
    backend.apply(desired)
    assert backend.observe() == backend.expected(desired)
    made, swapped = recorder.scripts[written:]
    assert made.startswith("delete set inet ip-masq-agent nomasq_ipv4_b\nadd set ")
    assert "delete table" not in made + swapped
    listed = ns.run("nft", "-t", "list", "table", "inet", "ip-masq-agent").stdout
    assert re.findall(r"set (\S+) ", listed) == ["nomasq_ipv4_b", "nomasq_ipv6_b"]
    assert "192.0.2.0/24" not in ns.run("nft", "list", "table", "inet", "ip-masq-agent").stdout


class _CountingRunner:
    def __init__(self, inner: SubprocessRunner) -> None:
        self._inner = inner
        self.reads = 0

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        listing = args[0] == "nft" and "list" in args  # `nft list`, `nft -j list`, ...
        self.reads += args[0].endswith("-save") or listing
        return self._inner(args, stdin=stdin)


@pytest.mark.parametrize("name", ["nftables", "iptables-nft"])
def test_observe_reads_again_only_when_the_generation_moved(lab: Lab, name: str) -> None:
    ns = lab.namespace("node")

    def generation_in_namespace() -> int | None:
        # The agent reads its own namespace in-process; the test process is outside it.
        script = "from ip_masq_agent.nft_generation import read_generation as r; print(r())"
        return int(ns.run(sys.executable, "-c", script).stdout)

    run = _CountingRunner(SubprocessRunner(ns.prefix))
    settings = BackendSettings("IP-MASQ-AGENT", ("ipv4",), run, generation_in_namespace)
    backend = default_backend_registry().create(name, settings)
    assert isinstance(backend, GenerationCachedBackend)
    backend.apply(_desired("{}"))
    first = backend.observe()
    reads = run.reads
    assert backend.observe() == first
    assert run.reads == reads  # nothing moved: no tool started
    if name == "nftables":
        ns.run("nft", "delete", "element", "inet", "ip-masq-agent", "nomasq_ipv4", "{ 10.0.0.0/8 }")
    else:
        ns.run("iptables-nft", "-t", "nat", "-D", "IP-MASQ-AGENT", "2")
    tampered = backend.observe()
    assert tampered != first and "10.0.0.0/8" not in tampered
    ns.run("nft", "add", "table", "inet", "someone-else")  # any commit moves the generation
    assert backend.observe() == tampered
    assert run.reads > reads + 1


def _tables(ns: Namespace) -> set[str]:
    """The `inet` tables (iptables-nft's own `ip nat` and the like are not ours to judge)."""
    listed = ns.run("nft", "list", "tables").stdout.split("\n")
    return {line.removeprefix("table ") for line in listed if line.startswith("table inet ")}


def _agent(ns: Namespace, *args: str) -> None:
    done = ns.run(*agent_argv(*args, "--config=/nonexistent"), check=False)
    assert done.returncode == 0, done.stderr


FIREWALL = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\t}\n}\n"


def test_a_node_table_named_like_the_chain_survives_start_and_cleanup(lab: Lab) -> None:
    ns = lab.namespace("node")
    ns.run("nft", "-f", "-", input=FIREWALL)
    # A table that only shares our default name is no table of ours either.
    ns.run("nft", "-f", "-", input=FIREWALL.replace("inet filter", "inet ip-masq-agent"))
    foreign = {"inet filter", "inet ip-masq-agent"}
    for backend in ("iptables-nft", "nftables", "iptables-legacy"):
        for chain in ("filter", "IP-MASQ-AGENT"):
            if (backend, chain) != ("nftables", "IP-MASQ-AGENT"):
                _agent(ns, "--once", f"--backend={backend}", f"--masq-chain={chain}")
            _agent(ns, "cleanup", f"--backend={backend}", f"--masq-chain={chain}")
            assert _tables(ns) == foreign, (backend, chain)
    # Our very name on a table we did not write: the agent refuses, naming it.
    done = ns.run(*agent_argv("--once", "--backend=nftables", "--config=/none"), check=False)
    assert done.returncode == 1
    assert "table inet ip-masq-agent exists but was not written by ip-masq-agent" in done.stderr
    assert _tables(ns) == foreign
    _agent(ns, "--once", "--backend=nftables", "--masq-chain=filter")
    assert _tables(ns) == foreign | {"inet ip-masq-agent-filter"}
    assert "chain input" in ns.run("nft", "list", "table", "inet", "filter").stdout


def test_an_unmarked_table_of_an_earlier_version_is_migrated(lab: Lab) -> None:
    ns = lab.namespace("node")
    desired = _desired("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    for old_name, chain in (("ip-masq", "IP-MASQ"), ("ip-masq-agent", "IP-MASQ-AGENT")):
        # Exactly what versions before the marker wrote: the table named after the chain.
        old = render_nftables_payload(desired, table=old_name)
        old = "\n".join(line for line in old.splitlines() if "comment" not in line) + "\n"
        ns.run("nft", "-f", "-", input=old)
        _agent(ns, "--once", "--backend=nftables", f"--masq-chain={chain}")
        ours = table_name(chain)
        assert _tables(ns) == {f"inet {ours}"}, chain
        assert TABLE_MARKER in ns.run("nft", "list", "table", "inet", ours).stdout
        _agent(ns, "cleanup", "--backend=nftables", f"--masq-chain={chain}")
        assert _tables(ns) == set()
        # Switching to iptables removes an unmarked table of ours too.
        ns.run("nft", "-f", "-", input=old)
        _agent(ns, "--once", "--backend=iptables-nft", f"--masq-chain={chain}")
        assert _tables(ns) == set(), chain
        _agent(ns, "cleanup", "--backend=iptables-nft", f"--masq-chain={chain}")


# Fresh flows from the pod to the world as fast as one process can write them: a raw socket,
# so every packet has a new (source port, destination port) pair and conntrack NATs it anew.
_FLOOD = """
import socket, struct, sys, time
src, dst, seconds = socket.inet_aton(sys.argv[1]), socket.inet_aton(sys.argv[2]), float(sys.argv[3])
out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end and sent < 2_000_000:
    udp = struct.pack("!HHHH", 1024 + sent % 60000, 30000 + sent // 60000 % 100, 8, 0)
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, sent & 0xFFFF, 0, 64, 17, 0, src, dst)
    out.sendto(head + udp, (sys.argv[2], 0))
    sent += 1
print(sent, flush=True)
"""
# The world's count of those packets by source address, until it has heard nothing for 1 s.
_COUNT = """
import collections, socket, time
into = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
into.settimeout(1.0)
seen, end = collections.Counter(), time.monotonic() + 30
print("ready", flush=True)
while time.monotonic() < end:
    try:
        packet = into.recv(2048)
    except TimeoutError:
        if seen:
            break
        continue
    if 30000 <= int.from_bytes(packet[22:24], "big") < 30100:
        seen[socket.inet_ntoa(packet[12:16])] += 1
print(dict(seen), flush=True)
"""


def test_re_applies_never_masquerade_a_destination_kept_before_and_after(lab: Lab) -> None:
    """The rules change back and forth under a flood of new flows to a destination both keep.

    Deleting and re-creating the table in one transaction (what every apply once did) let a
    few of those flows per hundred re-applies out with the node's address on 6.18: the new
    chain answered before its new set matched; so did a table created from nothing. Updated
    in place, or created sets first, none may.
    """
    topo = SingleNode(lab)
    a = topo.addresses
    backend = NftablesBackend(run=SubprocessRunner(topo.node.prefix))
    plans = [
        _desired("nonMasqueradeCIDRs: [10.128.0.0/16, 10.96.0.0/12]\n"),
        _desired("nonMasqueradeCIDRs: [10.128.0.0/12, 10.96.0.0/12, 10.250.0.0/24]\n"),
    ]
    backend.apply(plans[0])
    views = [backend.observe()]
    topo.node.sysctl("net.netfilter.nf_conntrack_udp_timeout", "1")  # 6M tuples, few kept
    counter = lab.spawn(topo.world, sys.executable, "-c", _COUNT, ready_line="ready")
    flood = lab.spawn(topo.pod, sys.executable, "-c", _FLOOD, a.pod, a.gateway, "3")
    applies, end = 0, time.monotonic() + 3
    while time.monotonic() < end and applies < 300:
        applies += 1
        if applies % 4 == 0:  # from time to time created anew, as after `nft flush ruleset`
            topo.node.run("nft", "delete", "table", "inet", "ip-masq-agent")
        backend.apply(plans[applies % 2])
        if len(views) < 2:
            views.append(backend.observe())
    sent, _ = flood.communicate(timeout=20)
    seen_text, _ = counter.communicate(timeout=40)
    seen: dict[str, int] = ast.literal_eval(seen_text.strip())
    assert views[0] != views[1] and applies >= 20  # the rules really did change, many times
    assert seen.get(a.pod, 0) > 1000, (sent, seen)  # the flood really crossed the node
    assert seen.get(a.node, 0) == 0, f"{seen[a.node]} of {sent} masqueraded in {applies} applies"


class _RacingRunner(_CountingRunner):
    """Another writer commits right after each of our `nft -f` writes, before we look."""

    def __init__(self, inner: SubprocessRunner, ns: Namespace) -> None:
        super().__init__(inner)
        self._ns = ns
        self.race = False

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        done = super().__call__(args, stdin=stdin)
        if self.race and stdin is not None:
            self._ns.run(
                "nft",
                "add",
                "element",
                "inet",
                "ip-masq-agent",
                "nomasq_ipv4",
                "{ 198.51.100.0/24 }",
            )
        return done


def test_a_write_the_generation_proves_is_not_listed_again_and_a_race_is(lab: Lab) -> None:
    ns = lab.namespace("node")

    def generation_in_namespace() -> int | None:
        script = "from ip_masq_agent.nft_generation import read_generation as r; print(r())"
        return int(ns.run(sys.executable, "-c", script).stdout)

    run = _RacingRunner(SubprocessRunner(ns.prefix), ns)
    backend = NftablesBackend(run=run, generation=generation_in_namespace)
    plans = [_desired(f"nonMasqueradeCIDRs: [10.{i}.0.0/16]\n") for i in range(3)]
    for desired in plans[:2]:  # created, then swapped (two commits each)
        backend.apply(desired)
        reads = run.reads
        assert backend.observe() == backend.expected(desired)
        assert run.reads == reads  # proven by the generation: no listing
    # What the kernel really holds is what the proof said.
    assert NftablesBackend(run=SubprocessRunner(ns.prefix)).observe() == backend.expected(plans[1])
    run.race = True
    backend.apply(plans[2])
    reads = run.reads
    observed = backend.observe()
    assert run.reads == reads + 1  # the generation moved past our write: listed
    assert observed != backend.expected(plans[2]) and "198.51.100.0/24" in observed


def test_a_table_turned_dormant_is_a_difference_and_is_replaced(lab: Lab) -> None:
    # `flags dormant` switches the table off with its sets and chain untouched (and nft
    # 1.0.6 lists it as broken JSON): it must read as drift, and the write must undo it.
    ns = lab.namespace("node")
    backend = NftablesBackend(run=SubprocessRunner(ns.prefix))
    desired = _desired("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    backend.apply(desired)
    ns.run("nft", "add", "table", "inet", "ip-masq-agent", "{ flags dormant; }")
    assert backend.observe() != backend.expected(desired)
    backend.apply(desired)
    assert backend.observe() == backend.expected(desired)
    assert "dormant" not in ns.run("nft", "list", "table", "inet", "ip-masq-agent").stdout
