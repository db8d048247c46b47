"""The iptables backend on a real kernel: upstream takeover, one jump, cleanup, legacy."""

import logging
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from ip_masq_agent.backends.iptables import IptablesBackend
from ip_masq_agent.commands import CommandResult, SubprocessRunner
from ip_masq_agent.config import default_config, parse_config
from ip_masq_agent.config_keeper import ConfigKeeper
from ip_masq_agent.iptables_payload import jump_rule_line
from ip_masq_agent.metrics import AgentMetrics
from ip_masq_agent.rules import Family, Masquerade, PortRange, plan_rules
from ip_masq_agent.runner import SyncRunner, SyncTiming
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import agent_argv
from testbed.netlab.topology import SingleNode
from tests.agent.kernel.kernel_helpers import CHAIN, chain_rules, counts, save

pytestmark = pytest.mark.kernel

SAVE_TOOL = {"iptables": "iptables", "iptables-legacy": "iptables-legacy"}

# What upstream v2.12 leaves on a node (its payload, then its ensured jump), written by hand.
UPSTREAM_STATE = f"""*nat
:{CHAIN} - [0:0]
-A {CHAIN} -m comment --comment "ip-masq-agent: local traffic is not subject to MASQUERADE" -d 169.254.0.0/16 -j RETURN
-A {CHAIN} -m comment --comment "ip-masq-agent: local traffic is not subject to MASQUERADE" -d 10.0.0.0/8 -j RETURN
-A {CHAIN} -m comment --comment "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)" -j MASQUERADE --random-fully
{jump_rule_line(CHAIN)}
COMMIT
"""  # noqa: E501


class RecordingRunner:
    """The real runner in a namespace, remembering every command it ran."""

    def __init__(self, ns: Namespace) -> None:
        self._run = SubprocessRunner(ns.prefix)
        self.commands: list[str] = []

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        self.commands.append(args[0])
        return self._run(args, stdin=stdin)


class FixedSource:
    name = "memory"

    def read(self) -> str:
        return "resyncInterval: 10s\n"


def _backend(
    ns: Namespace, flavor: str, families: tuple[Family, ...] = ("ipv4",)
) -> tuple[IptablesBackend, RecordingRunner]:
    run = RecordingRunner(ns)
    return IptablesBackend(flavor=flavor, chain=CHAIN, families=families, run=run), run


@pytest.mark.parametrize("flavor", ["iptables", "iptables-legacy"])
def test_takeover_of_upstream_rules_then_cleanup(lab: Lab, flavor: str) -> None:
    topo = SingleNode(lab)
    node, tool = topo.node, SAVE_TOOL[flavor]
    node.run(f"{tool}-restore", "-w", "--noflush", input=UPSTREAM_STATE)
    # A second copy of the jump, as a buggy earlier run might have left, and a variant whose
    # comment carries literal quotes (seen on some managed clusters).
    node.run(f"{tool}-restore", "-w", "--noflush", input=f"*nat\n{jump_rule_line(CHAIN)}\nCOMMIT\n")
    quoted = jump_rule_line(CHAIN).replace('"ip-masq-agent: ', '"\\"ip-masq-agent: ', 1)
    quoted = quoted.replace(' chain"', ' chain\\""', 1)
    node.run(f"{tool}-restore", "-w", "--noflush", input=f"*nat\n{quoted}\nCOMMIT\n")
    assert counts(save(node, tool)) == (1, 3)

    done = node.run(
        *agent_argv("--once", f"--backend={flavor}", "--config=/nonexistent"), check=False
    )
    assert done.returncode == 0, done.stderr
    saved = save(node, tool)
    assert counts(saved) == (1, 1)
    assert len(chain_rules(saved)) == 5  # link-local, three defaults, MASQUERADE
    assert topo.seen_from_pod("internet", "vpc") == {
        "internet": topo.addresses.node,
        "vpc": topo.addresses.pod,
    }

    for _ in range(2):  # idempotent
        done = node.run(*agent_argv("cleanup", f"--backend={flavor}"), check=False)
        assert done.returncode == 0, done.stderr
        assert counts(save(node, tool)) == (0, 0)
        assert CHAIN not in save(node, tool)
    # Nothing of ours, nothing else either: the pod's traffic is no longer NATed.
    assert topo.seen_from_pod("internet", proto="tcp") == {"internet": topo.addresses.pod}


def test_legacy_backend_leaves_nft_tables_alone(lab: Lab) -> None:
    node = lab.namespace("node")
    backend, _ = _backend(node, "iptables-legacy")
    desired = plan_rules(default_config(), chain=CHAIN, enable_ipv6=False, masquerade=Masquerade())
    backend.apply(desired)
    assert counts(save(node, "iptables-legacy")) == (1, 1)
    assert counts(save(node, "iptables-nft")) == (0, 0)


def test_only_our_rules_are_touched_and_foreign_jump_variants_go(lab: Lab) -> None:
    node = lab.namespace("node")
    node.run("ip6tables", "-w", "-t", "nat", "-A", "POSTROUTING", "-o", "eth9", "-j", "MASQUERADE")
    node.run("iptables", "-w", "-t", "nat", "-N", "OTHER")
    node.run("iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-j", "OTHER")
    backend, _ = _backend(node, "iptables", ("ipv4", "ipv6"))
    node.run("iptables", "-w", "-t", "nat", "-N", CHAIN)
    node.run("iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-d", "10.1.0.0/16", "-j", CHAIN)
    config = parse_config("nonMasqueradeCIDRs: [10.0.0.0/8, fd00::/8]\n", enable_ipv6=True)
    backend.apply(plan_rules(config, chain=CHAIN, enable_ipv6=True, masquerade=Masquerade()))
    v4, v6 = save(node, "iptables"), save(node, "ip6tables")
    assert counts(v4) == (1, 1) and counts(v6) == (1, 1)
    assert jump_rule_line(CHAIN) in v4.splitlines()
    assert "-A POSTROUTING -j OTHER" in v4.splitlines()
    assert "-A POSTROUTING -o eth9 -j MASQUERADE" in v6.splitlines()
    backend.cleanup()
    assert counts(save(node, "iptables")) == (0, 0) and counts(save(node, "ip6tables")) == (0, 0)
    assert "-A POSTROUTING -j OTHER" in save(node, "iptables").splitlines()


def test_idle_resync_runs_no_restore_and_drift_is_repaired(lab: Lab) -> None:
    node = lab.namespace("node")
    backend, run = _backend(node, "iptables")

    class Clock:
        now = 0.0

        def monotonic(self) -> float:
            return self.now

        def wall(self) -> float:
            return self.now

    clock = Clock()
    metrics = AgentMetrics(CollectorRegistry(), backend=backend.name)
    runner = SyncRunner(
        config=ConfigKeeper(
            source=FixedSource(),
            parse=lambda text: parse_config(text, enable_ipv6=False),
            defaults=default_config(),
            metrics=metrics,
            logger=logging.getLogger("kernel-runner"),
        ),
        plan=lambda c: plan_rules(c, chain=CHAIN, enable_ipv6=False, masquerade=Masquerade()),
        backend=backend,
        clock=clock,
        metrics=metrics,
        logger=logging.getLogger("kernel-runner"),
        timing=SyncTiming(),
    )
    runner.step()
    assert counts(save(node)) == (1, 1)
    run.commands.clear()
    for _ in range(3):
        clock.now += 10
        runner.step()
    assert run.commands == ["iptables-save"] * 3  # look, compare, nothing written
    node.run("iptables", "-w", "-t", "nat", "-R", CHAIN, "2", "-d", "10.0.0.0/8", "-j", "ACCEPT")
    clock.now += 10
    runner.step()
    assert "iptables-restore" in run.commands
    assert chain_rules(save(node))[1].startswith(f"-A {CHAIN} -d 10.0.0.0/8 -m comment")
    assert chain_rules(save(node))[1].endswith("-j RETURN")


def test_kernel_takes_the_to_ports_payload_for_both_families(lab: Lab) -> None:
    node = lab.namespace("node")
    backend, _ = _backend(node, "iptables", ("ipv4", "ipv6"))
    ports = (PortRange(1024, 29999), PortRange(32768, 65535))
    desired = plan_rules(
        default_config(), chain=CHAIN, enable_ipv6=True, masquerade=Masquerade(to_ports=ports)
    )
    backend.apply(desired)
    for tool in ("iptables", "ip6tables"):
        rules = chain_rules(save(node, tool))
        statistic = [r for r in rules if "--probability 0.46929256" in r]
        assert [r.split(" -p ")[1].split()[0] for r in statistic] == ["tcp", "udp", "sctp"], tool
        assert sum("--to-ports" in r for r in rules) == 6, tool
        assert rules[-1].endswith("-j MASQUERADE --random-fully"), tool
