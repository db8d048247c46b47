"""Our NAT next to kube-proxy's masquerade-by-mark and a CNI's rules, in both rule flavours."""

from pathlib import Path

import pytest

from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import agent_argv
from testbed.netlab.topology import ECHO_PORT, Addresses, SingleNode
from testbed.netlab.upstream_records import UpstreamRecords, lay_upstream_node
from tests.agent.kernel.backend_views import VIEWS

pytestmark = pytest.mark.kernel

KUBE_MARK = "0x4000"

# kube-proxy (iptables mode) marks service traffic that needs SNAT and masquerades it in
# KUBE-POSTROUTING; here "service traffic" is TCP from the pod to the VPC echo server, a
# destination our config keeps unmasqueraded. The CNI keeps pod-to-pod traffic as it is.
IPTABLES_FOREIGN = f"""*mangle
-A PREROUTING -s 10.244.1.2 -d 10.128.0.1 -p tcp --dport {ECHO_PORT} -j MARK --set-xmark {KUBE_MARK}/{KUBE_MARK}
COMMIT
*nat
:KUBE-POSTROUTING - [0:0]
:CNI-POSTROUTING - [0:0]
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -j CNI-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark {KUBE_MARK}/{KUBE_MARK} -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark {KUBE_MARK}
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A CNI-POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN
COMMIT
"""  # noqa: E501

# The same in native nftables, as kube-proxy's nftables mode and an nft-based CNI write it.
NFTABLES_FOREIGN = f"""table ip kube-proxy {{
	chain mark-service {{
		type filter hook prerouting priority mangle; policy accept;
		ip saddr 10.244.1.2 ip daddr 10.128.0.1 tcp dport {ECHO_PORT} meta mark set meta mark | {KUBE_MARK}
	}}
	chain nat-postrouting {{
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & {KUBE_MARK} == 0 return
		meta mark set meta mark ^ {KUBE_MARK}
		masquerade fully-random
	}}
}}
table ip cni {{
	chain postrouting {{
		type nat hook postrouting priority srcnat - 10; policy accept;
		ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 accept
	}}
}}
"""  # noqa: E501


def _install(node: Namespace, flavour: str) -> str:
    """Put the foreign rules in place; return a listing of them to compare later."""
    if flavour == "iptables":
        node.run("iptables-restore", "-w", "--noflush", input=IPTABLES_FOREIGN)
        return _foreign_iptables(node)
    node.run("nft", "-f", "-", input=NFTABLES_FOREIGN)
    return _foreign_nft(node)


def _foreign_iptables(node: Namespace) -> str:
    saved = node.run("iptables-save").stdout.splitlines()
    return "\n".join(line for line in saved if "KUBE" in line or "CNI" in line or "MARK" in line)


def _foreign_nft(node: Namespace) -> str:
    return (
        node.run("nft", "list", "table", "ip", "kube-proxy").stdout
        + node.run("nft", "list", "table", "ip", "cni").stdout
    )


@pytest.mark.parametrize("flavour", ["iptables", "nftables"])
@pytest.mark.parametrize("backend", list(VIEWS))
def test_outcomes_stay_right_beside_kube_proxy_and_cni(
    lab: Lab, tmp_path: Path, backend: str, flavour: str
) -> None:
    topo = SingleNode(lab)
    a = topo.addresses
    foreign = _install(topo.node, flavour)
    config = tmp_path / "config"
    config.write_text("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    done = topo.node.run(
        *agent_argv("--once", f"--backend={backend}", f"--config={config}"), check=False
    )
    assert done.returncode == 0, done.stderr

    # kube-proxy's marked traffic is masqueraded although our config would keep it; the
    # rest follows our config; the CNI's pod-to-pod exemption changes nothing for these.
    assert topo.seen_from_pod("vpc", "internet", proto="tcp") == {"vpc": a.node, "internet": a.node}
    assert topo.seen_from_pod("vpc", "internet", "link-local") == {
        "vpc": a.pod,
        "internet": a.node,
        "link-local": a.pod,
    }
    listing = _foreign_iptables if flavour == "iptables" else _foreign_nft
    assert listing(topo.node) == foreign

    done = topo.node.run(*agent_argv("cleanup", f"--backend={backend}"), check=False)
    assert done.returncode == 0, done.stderr
    assert listing(topo.node) == foreign
    assert VIEWS[backend].state(topo.node) == ""


# Beside GKE's managed agent: upstream run as GKE runs it (--masq-chain=IP-MASQ
# --nomasq-all-reserved-ranges) on the local stack's rendered ConfigMap, its recorded tables
# restored on the node, and ours with our own chain and the same ConfigMap.
GKE_NOTE = ("GKE's managed agent", "the local stack's rendered ConfigMap")
GKE_CHAIN = "IP-MASQ"
GKE_ADDRESSES = Addresses(
    destinations={
        "vpc": "172.18.255.254",  # the local stack's subnet: kept
        "vpc-forced": "172.18.200.10",  # in the subnet, but see FORCED below
        "service": "10.96.0.10",  # its services range: kept
        "link-local": "169.254.169.254",  # masqLinkLocal: false: kept
        "internet": "203.0.113.10",
        "internet6": "2001:db8::10",
    }
)


def _gke_lines(node: Namespace) -> list[str]:
    """GKE's agent's chain and jump in both families, with nf_tables rule handles: a rule
    rewritten with the same text gets a new handle, so "untouched" means the same listing;
    stateless (-s), as the counters move with the probes."""
    lines: list[str] = []
    for family in ("ip", "ip6"):
        chain = node.run("nft", "-as", "list", "chain", family, "nat", GKE_CHAIN, check=False)
        lines += chain.stdout.splitlines()
        hook = node.run("nft", "-as", "list", "chain", family, "nat", "POSTROUTING").stdout
        lines += [line for line in hook.splitlines() if f"jump {GKE_CHAIN} # handle" in line]
    return lines


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "dual-stack"])
@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_beside_gkes_managed_agent_ours_keeps_its_hands_off_ip_masq(
    lab: Lab, tmp_path: Path, upstream: UpstreamRecords, backend: str, ipv6: bool
) -> None:
    records = [r for r in upstream.noted(*GKE_NOTE) if ("--enable-ipv6" in r.flags) == ipv6]
    assert len(records) == 1, f"one record of GKE's agent on the local stack, found {records}"
    (record,) = records
    assert record.config is not None and f"--masq-chain={GKE_CHAIN}" in record.flags
    topo = SingleNode(lab, GKE_ADDRESSES)
    a = topo.addresses
    lay_upstream_node(topo.node, record)
    gke = _gke_lines(topo.node)
    assert sum(f"jump {GKE_CHAIN} #" in line for line in gke) == (2 if ipv6 else 1)

    config = tmp_path / "config"
    config.write_bytes(record.config)
    flags = ("--enable-ipv6",) if ipv6 else ()
    done = topo.node.run(
        *agent_argv("--once", f"--backend={backend}", f"--config={config}", *flags), check=False
    )
    assert done.returncode == 0, done.stderr
    assert VIEWS["nftables" if backend == "nftables" else "iptables-nft"].state(topo.node)

    for proto in ("udp", "tcp"):
        assert topo.seen_from_pod("vpc", "service", "link-local", "internet", proto=proto) == {
            "vpc": a.pod,
            "service": a.pod,
            "link-local": a.pod,
            "internet": a.node,
        }
    # IPv6 is masqueraded only with --enable-ipv6, by either agent.
    assert topo.seen_from_pod("internet6") == {"internet6": a.node6 if ipv6 else a.pod6}
    assert _gke_lines(topo.node) == gke

    done = topo.node.run(*agent_argv("cleanup", f"--backend={backend}"), check=False)
    assert done.returncode == 0, done.stderr
    assert _gke_lines(topo.node) == gke


# Upstream ignores forceMasqueradeCIDRs (an unknown key), so GKE's agent reading the same
# ConfigMap writes the recorded chain: it keeps the whole subnet. Ours masquerades the exception.
FORCED = "forceMasqueradeCIDRs: [172.18.200.0/24]\n"


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_beside_gkes_managed_agent_forced_exceptions_are_still_masqueraded(
    lab: Lab, tmp_path: Path, upstream: UpstreamRecords, backend: str
) -> None:
    (record,) = [r for r in upstream.noted(*GKE_NOTE) if "--enable-ipv6" not in r.flags]
    assert record.config is not None
    topo = SingleNode(lab, GKE_ADDRESSES)
    a = topo.addresses
    lay_upstream_node(topo.node, record)
    gke = _gke_lines(topo.node)
    config = tmp_path / "config"
    config.write_bytes(record.config + FORCED.encode())
    done = topo.node.run(
        *agent_argv("--once", f"--backend={backend}", f"--config={config}"), check=False
    )
    assert done.returncode == 0, done.stderr
    # Chain order at the hook: GKE's jump first (it was there first), ours after it; for the
    # nftables backend our base chain has iptables' priority (srcnat). Either way a kept
    # destination passes both unNATed, and the first chain that NATs decides.
    postrouting = topo.node.run("iptables-save", "-t", "nat").stdout.splitlines()
    jumps = [line.rsplit(" ", 1)[1] for line in postrouting if line.startswith("-A POSTROUTING")]
    assert jumps == (["IP-MASQ", "IP-MASQ-AGENT"] if backend == "iptables" else ["IP-MASQ"])
    assert topo.seen_from_pod("vpc", "vpc-forced", "service", "internet", proto="tcp") == {
        "vpc": a.pod,
        "vpc-forced": a.node,  # GKE's chain returns it, ours masquerades it
        "service": a.pod,
        "internet": a.node,
    }
    assert _gke_lines(topo.node) == gke
