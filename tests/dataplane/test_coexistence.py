"""Our NAT next to kube-proxy's masquerade-by-mark and a CNI's rules, in both rule flavours."""

from pathlib import Path

import pytest

from netlab.lab import Lab, Namespace
from netlab.node_agent import agent_argv
from netlab.topology import ECHO_PORT, SingleNode
from tests.dataplane.backend_views import VIEWS

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
