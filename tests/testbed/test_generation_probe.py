"""The bench's waiter on nftables: it reads a namespace's generation, and looks at the set only
when the generation moved, yet says when the element went live."""

import threading
import time

import pytest

from ip_masq_agent.nftables_payload import DEFAULT_TABLE, set_name
from ip_masq_agent.prefixes import Prefix
from testbed.bench.versus_upstream import wait_live
from testbed.netlab.generation_probe import GenerationProbe, GenerationStamps
from testbed.netlab.lab import Lab

pytestmark = pytest.mark.kernel


def test_the_generation_moves_with_each_commit_in_that_namespace_only(lab: Lab) -> None:
    node, other = lab.namespace("node"), lab.namespace("other")
    with GenerationProbe(node) as probe:
        before = probe.read()
        assert before is not None
        other.run("nft", "add", "table", "inet", "elsewhere")
        assert probe.read() == before
        node.run("nft", "add", "table", "inet", "here")
        assert probe.read() == before + 1


def test_waiting_on_the_generation_times_the_commit_that_made_it_live(lab: Lab) -> None:
    node = lab.namespace("node")
    table = f"inet {DEFAULT_TABLE}"
    node.run(
        "nft",
        "-f",
        "-",
        input=f"table {table} {{\n"
        f"set {set_name('ipv4')} {{ type ipv4_addr; flags interval; }}\n"
        f"chain postrouting {{ type nat hook postrouting priority 100;"
        f" ip daddr @{set_name('ipv4')} return; }}\n}}\n",
    )
    # An unrelated commit first, then the element in a set the chain does not look up yet
    # (the agent's new set), then the chain pointed at that set: live only at the third.
    commits = [
        (0.2, "add table inet unrelated\n"),
        (
            0.4,
            f"add set {table} {set_name('ipv4', 1)} {{ type ipv4_addr; flags interval;"
            " elements = { 11.0.0.0/24 } }\n",
        ),
        (
            0.7,
            f"flush chain {table} postrouting\n"
            f"add rule {table} postrouting ip daddr @{set_name('ipv4', 1)} return\n"
            f"delete set {table} {set_name('ipv4')}\n",
        ),
    ]

    def commit() -> None:
        begin = time.perf_counter()
        for at, script in commits:
            time.sleep(max(0.0, begin + at - time.perf_counter()))
            node.run("nft", "-f", "-", input=script)

    with GenerationProbe(node) as probe:
        writer = threading.Thread(target=commit)
        writer.start()
        took = wait_live(
            "nftables",
            node,
            Prefix.parse("11.0.0.0/24"),
            timeout=5.0,
            step=0.002,
            generation=probe,
        )
        writer.join()
        assert took is not None
        assert 0.65 < took < 1.5, took
        assert (
            wait_live(
                "nftables",
                node,
                Prefix.parse("12.0.0.0/24"),
                timeout=0.3,
                step=0.002,
                generation=probe,
            )
            is None
        )


def test_stamps_time_each_generation_when_first_seen_even_while_the_caller_is_busy(
    lab: Lab,
) -> None:
    node = lab.namespace("node")
    with GenerationProbe(node) as probe, GenerationStamps(probe, step=0.002, limit=5.0) as stamps:
        before = stamps.latest()
        assert before is not None
        committed = time.perf_counter()
        node.run("nft", "add", "table", "inet", "here")
        time.sleep(0.3)  # busy elsewhere (a long look): the thread keeps reading
        assert stamps.latest() == before + 1
        assert 0.0 <= stamps.seen_at(before + 1) - committed < 0.1
