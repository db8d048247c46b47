"""Ours against upstream's recorded nat tables: the same config and flags, the same tables, whole.

Each case runs ours (`--once --backend=iptables`) in a fresh namespace and compares
`iptables-save -t nat` and `ip6tables-save -t nat` with what the real upstream v2.12.6 wrote on
its first sync for the same input, as recorded in ../shared/upstream/upstream-nat-tables.json
(testbed.netlab.upstream_records finds it). Where ours deliberately differs (README, "Differences
from upstream"), the case says so: ours must then equal upstream's tables for a stand-in config, and
upstream's own must really differ. A case with no record fails: upstream's answer is never
guessed. With a real upstream binary named by IP_MASQ_AGENT_UPSTREAM, the records themselves
are checked against it live.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import agent_argv
from testbed.netlab.upstream import run_upstream_once, upstream_binary, upstream_first_sync
from testbed.netlab.upstream_records import UpstreamRecords, lay_upstream_node, nat_tables

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[3]
# A document both agents reject: a rejected config writes nothing, in either agent.
REJECTED = "nonMasqueradeCIDRs: [10.0.0.0/33]\n"
LIST = "nonMasqueradeCIDRs: [10.0.0.0/8, 192.168.0.0/16]\n"
DUAL = "nonMasqueradeCIDRs: [10.0.0.0/8, 'fd00::/8', '2001:db8::/32']\n"


@dataclass(frozen=True)
class Difference:
    """A documented, deliberate difference: ours behaves as upstream does for `ours_like`."""

    readme: str  # the phrase in README's "Differences from upstream" that documents it
    ours_like: str | None  # the config for which upstream's tables equal ours (None: no file)


@dataclass(frozen=True)
class Case:
    id: str
    config: str | bytes | None  # None: no config file at all
    flags: tuple[str, ...] = ()
    difference: Difference | None = None


CASES = [
    Case("no-file-defaults", None),
    Case("no-file-reserved-ranges", None, ("--nomasq-all-reserved-ranges",)),
    Case("file-overrides-reserved-ranges", LIST, ("--nomasq-all-reserved-ranges",)),
    Case(
        "reserved-ranges-keep-defaults", "masqLinkLocal: true\n", ("--nomasq-all-reserved-ranges",)
    ),
    Case("list", LIST),
    Case("duplicates-kept", "nonMasqueradeCIDRs: [10.0.0.0/8, 10.0.0.0/8]\n"),
    Case("key-case", "NONMASQUERADECIDRS: [10.0.0.0/8]\nMasqLinkLocal: true\ncidrlimit: 1\n"),
    Case(
        "key-spellings-sorted-as-upstream",
        "nonMasqueradeCIDRs: [10.0.0.0/8]\nNONMASQUERADECIDRS: [11.0.0.0/8]\n",
    ),
    Case("yaml11-yes-on", "masqLinkLocal: yes\nmasqLinkLocalIPv6: On\n", ("--enable-ipv6",)),
    Case("yaml11-y-n", "masqLinkLocal: y\nnonMasqueradeCIDRs: [10.0.0.0/8]\n"),
    Case("yaml11-N", "masqLinkLocal: N\nnonMasqueradeCIDRs: [10.0.0.0/8]\n"),
    Case("last-duplicate-key-wins", "masqLinkLocal: true\nmasqLinkLocal: false\n"),
    Case(
        "json-leading-whitespace",
        ' \n\t {"nonMasqueradeCIDRs": ["10.0.0.0/8"], "masqLinkLocal": true}',
    ),
    Case("json-key-case", '{"NonMasqueradeCIDRs": ["10.0.0.0/8"], "CIDRLIMIT": 1}'),
    Case(
        "json-last-spelling-wins",
        '{"nonMasqueradeCIDRs": ["10.0.0.0/8"], "NONMASQUERADECIDRS": ["11.0.0.0/8"]}',
    ),
    Case("document-start-marker", "---\nnonMasqueradeCIDRs: [10.0.0.0/8]\n"),
    Case("unknown-key-ignored", "nonMasqueradeCIDRs: [10.0.0.0/8]\nbogus: 1\n"),
    Case("ipv6-dual-stack", DUAL, ("--enable-ipv6",)),
    Case("ipv6-uppercase", "nonMasqueradeCIDRs: ['FD00::/8']\n", ("--enable-ipv6",)),
    Case(
        "ipv6-masq-link-local",
        "nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqLinkLocalIPv6: true\n",
        ("--enable-ipv6",),
    ),
    Case("ipv6-cidr-without-enable-ipv6", DUAL),
    Case("ipv6-defaults", None, ("--enable-ipv6",)),
    Case("empty-list", "nonMasqueradeCIDRs: []\n"),
    Case("null-list", "nonMasqueradeCIDRs: null\n"),
    Case("bare-key-list", "nonMasqueradeCIDRs:\n"),
    Case("to-ports", LIST, ("--to-ports=1024-29999,32768-65535",)),
    Case("to-ports-single", LIST, ("--to-ports=4000",)),
    Case("to-ports-tiny-probability", LIST, ("--to-ports=1,2-65535", "--enable-ipv6")),
    Case("to-ports-not-random", LIST, ("--to-ports=1-3,5,7-9", "--random-fully=false")),
    Case("random-fully-false", LIST, ("--random-fully=false",)),
    Case("masq-chain-gke", LIST, ("--masq-chain=IP-MASQ", "--enable-ipv6")),
    Case("resync-interval-units", "resyncInterval: 1h2m3.5s\n"),
    Case(
        "cidr-limit-raised",
        "nonMasqueradeCIDRs: ["
        + ", ".join(f"11.{i}.0.0/16" for i in range(100))
        + "]\ncidrLimit: 100\n",
    ),
    Case("cidr-limit-zero-empty-list", "nonMasqueradeCIDRs: []\ncidrLimit: 0\n"),
    # Rejections: neither agent writes anything.
    Case(
        "over-default-limit",
        "nonMasqueradeCIDRs: [" + ", ".join(f"11.{i}.0.0/16" for i in range(65)) + "]\n",
    ),
    Case("over-limit", "nonMasqueradeCIDRs: [10.0.0.0/8, 11.0.0.0/8]\ncidrLimit: 1\n"),
    Case("defaults-over-limit-zero", "cidrLimit: 0\n"),
    Case("negative-limit", "cidrLimit: -1\n"),
    Case("bad-prefix", REJECTED),
    Case("host-bits", "nonMasqueradeCIDRs: [10.0.0.1/8]\n"),
    Case("cidr-not-a-string", "nonMasqueradeCIDRs: [10]\n"),
    Case("list-not-a-list", "nonMasqueradeCIDRs: 10.0.0.0/8\n"),
    Case("not-yaml", "nonMasqueradeCIDRs: [10.0.0.0/8\n"),
    Case("tab-indent", "nonMasqueradeCIDRs:\n\t- 10.0.0.0/8\n"),
    Case("not-json", '{"nonMasqueradeCIDRs": ["10.0.0.0/8"],}'),
    Case("list-document", "- 10.0.0.0/8\n"),
    Case("scalar-document", "hello\n"),
    Case("binary", b"\xff\xfe\x00"),
    Case("limit-a-string", "cidrLimit: '5'\n"),
    Case("limit-a-float", "cidrLimit: 1.0\n"),
    Case("bool-an-int", "masqLinkLocal: 1\n"),
    Case("bool-a-string", "masqLinkLocal: 'true'\n"),
    Case("resync-not-a-duration", "resyncInterval: 5x\n"),
    Case("resync-a-number", "resyncInterval: 60\n"),
    # Deliberate differences.
    Case(
        "empty-document",
        "",
        difference=Difference("An empty or comment-only document is rejected", REJECTED),
    ),
    Case(
        "comment-only-document",
        "# nonMasqueradeCIDRs: [10.0.0.0/8]\n",
        difference=Difference("An empty or comment-only document is rejected", REJECTED),
    ),
    Case(
        "several-documents",
        "nonMasqueradeCIDRs: [10.0.0.0/8]\n---\nnonMasqueradeCIDRs: [11.0.0.0/8]\n",
        difference=Difference("A file of several YAML documents is rejected", REJECTED),
    ),
    Case(
        "zero-resync-interval",
        "resyncInterval: 0s\n",
        difference=Difference("`resyncInterval` of zero is rejected", REJECTED),
    ),
    Case(
        # Ours lists the disjoint longest-prefix answer, in address order; upstream ignores it.
        "force-masquerade-cidrs",
        LIST + "forceMasqueradeCIDRs: [10.1.0.0/16]\n",
        difference=Difference(
            "`forceMasqueradeCIDRs` masquerades exceptions inside kept ranges",
            "nonMasqueradeCIDRs: [10.0.0.0/16, "
            + ", ".join(f"10.{1 << k}.0.0/{16 - k}" for k in range(1, 8))
            + ", 192.168.0.0/16]\n",
        ),
    ),
    Case(
        "prefix-with-leading-zero",
        "nonMasqueradeCIDRs: [10.0.0.0/08]\n",
        difference=Difference("written in canonical form", "nonMasqueradeCIDRs: [10.0.0.0/8]\n"),
    ),
]


def run_ours(
    ns: Namespace, workdir: Path, config: str | bytes | None, flags: tuple[str, ...]
) -> int:
    path = workdir / f"ours-{ns.name}.conf"
    if config is not None:
        path.write_bytes(config.encode() if isinstance(config, str) else config)
    done = ns.run(
        *agent_argv("--once", "--backend=iptables", f"--config={path}", *flags), check=False
    )
    return done.returncode


def readme_differences() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("**Differences from upstream.**", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ours_writes_upstreams_nat_tables(
    lab: Lab, tmp_path: Path, upstream: UpstreamRecords, case: Case
) -> None:
    theirs = upstream.tables(case.id, case.config, case.flags)
    ours_ns = lab.namespace("ours")
    status = run_ours(ours_ns, tmp_path, case.config, case.flags)
    ours = nat_tables(ours_ns)
    wrote = ":IP-MASQ" in ours
    assert status == (0 if wrote else 1)  # --once fails exactly when nothing could be applied
    if case.difference is None:
        assert ours == theirs
        return
    assert case.difference.readme in readme_differences()
    like = upstream.tables(f"{case.id} (stand-in)", case.difference.ours_like, case.flags)
    assert ours == like
    assert theirs != ours, "upstream now does the same: drop the documented difference"


def test_the_cases_cover_writes_and_rejections() -> None:
    # The table is only a conformance test if both outcomes are in it, for both families.
    ids = {c.id for c in CASES}
    assert {"ipv6-dual-stack", "ipv6-cidr-without-enable-ipv6", "bad-prefix", "list"} <= ids


def test_a_case_without_a_record_fails_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "records.json"
    data.write_text('{"records": [{"config": null, "flags": [], "nat_tables": "*nat"}]}')
    records = UpstreamRecords.load(data)
    assert records.tables("no-file-defaults", None, ()) == "*nat"
    with pytest.raises(LookupError, match="'list' has no recorded upstream answer"):
        records.tables("list", LIST, ())


def _jumps(tables: str, chain: str) -> list[str]:
    return [
        line for line in tables.splitlines() if re.match(rf"-A POSTROUTING .*-j {chain}$", line)
    ]


def _upstream_node(
    lab: Lab, upstream: UpstreamRecords, config: str, flags: tuple[str, ...]
) -> tuple[Namespace, str]:
    """A node upstream ran on: its recorded tables restored, and checked to be exactly them."""
    record = upstream.record("a node upstream ran on", config, flags)
    node = lab.namespace("node")
    lay_upstream_node(node, record)
    assert nat_tables(node) == record.nat_tables
    return node, record.nat_tables


@pytest.mark.parametrize("chain", ["IP-MASQ", "IP-MASQ-AGENT"])
def test_a_node_upstream_ran_on_ends_with_its_exact_chain_and_one_jump(
    lab: Lab, tmp_path: Path, upstream: UpstreamRecords, chain: str
) -> None:
    flags = (f"--masq-chain={chain}", "--enable-ipv6")
    node, upstreams = _upstream_node(lab, upstream, DUAL, flags)
    assert len(_jumps(upstreams, chain)) == 2  # one per family

    assert run_ours(node, tmp_path, DUAL, flags) == 0
    assert nat_tables(node) == upstreams


def test_a_node_upstream_ran_on_takes_ours_new_config_as_upstream_would(
    lab: Lab, tmp_path: Path, upstream: UpstreamRecords
) -> None:
    flags = ("--masq-chain=IP-MASQ", "--enable-ipv6", "--to-ports=1024-65535")
    node, _ = _upstream_node(lab, upstream, DUAL, flags)
    assert run_ours(node, tmp_path, LIST, flags) == 0
    migrated = nat_tables(node)
    assert migrated == upstream.tables("upstream's answer to the new config", LIST, flags)
    assert len(_jumps(migrated, "IP-MASQ")) == 2


# With a real upstream binary (IP_MASQ_AGENT_UPSTREAM), the records are checked against it
# live, case by case; without one these tests are not collected (CI has none, by design).
_LIVE = upstream_binary()
if _LIVE is not None:
    _binary: Path = _LIVE

    @pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
    def test_live_upstream_writes_the_recorded_tables(
        lab: Lab, tmp_path: Path, upstream: UpstreamRecords, case: Case
    ) -> None:
        up_ns = lab.namespace("up")
        with upstream_first_sync(lab, _binary, up_ns, case.config, case.flags):
            pass
        assert nat_tables(up_ns) == upstream.tables(case.id, case.config, case.flags)

    def test_live_upstream_node_takes_ours_new_config(
        lab: Lab, tmp_path: Path, upstream: UpstreamRecords
    ) -> None:
        flags = ("--masq-chain=IP-MASQ", "--enable-ipv6")
        node = lab.namespace("node")
        run_upstream_once(lab, _binary, node, DUAL, flags)
        assert run_ours(node, tmp_path, LIST, flags) == 0
        assert nat_tables(node) == upstream.tables("live migration", LIST, flags)
