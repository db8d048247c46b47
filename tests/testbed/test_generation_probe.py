"""The bench's waiter on nftables: it reads a namespace's generation, and looks at the set only
when the generation moved, yet says when the element went live."""

import threading
import time

import pytest

from ip_masq_agent.nftables_payload import DEFAULT_TABLE, set_name
from ip_masq_agent.prefixes import Prefix
from testbed.bench.versus_upstream import wait_live
from testbed.netlab.generation_probe import GenerationProbe
from testbed.netlab.lab import Lab

pytestmark = pytest.mark.kernel

SET = f"inet {DEFAULT_TABLE} {set_name('ipv4')}"


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
    node.run("nft", "add", "table", "inet", DEFAULT_TABLE)
    node.run(
        "nft",
        "add",
        "set",
        "inet",
        DEFAULT_TABLE,
        set_name("ipv4"),
        "{ type ipv4_addr; flags interval; }",
    )
    # An unrelated commit first: the waiter looks, finds nothing, and keeps waiting.
    commits = [
        (0.2, ["nft", "add", "table", "inet", "unrelated"]),
        (0.5, ["nft", "add", "element", *SET.split(), "{ 11.0.0.0/24 }"]),
    ]

    def commit() -> None:
        begin = time.perf_counter()
        for at, argv in commits:
            time.sleep(max(0.0, begin + at - time.perf_counter()))
            node.run(*argv)

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
    assert 0.45 < took < 1.5, took
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
