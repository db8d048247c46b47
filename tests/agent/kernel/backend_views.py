"""What each backend owns in a node namespace, seen and damaged from outside the agent."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ip_masq_agent.prefixes import Prefix
from testbed.netlab.lab import Namespace
from testbed.netlab.nft_live import holds, live_set
from tests.agent.kernel.kernel_helpers import CHAIN

TABLE = "ip-masq-agent"
Tamper = Callable[[Namespace], None]


@dataclass(frozen=True)
class BackendView:
    """One `--backend` value: how to read its state and how to break it three ways."""

    name: str
    state: Callable[[Namespace], str]  # our rules as the kernel tools print them; "" if none
    holds: Callable[[Namespace, str], bool]  # is this CIDR among our non-masquerade ranges?
    tampers: dict[str, Tamper] = field(default_factory=dict)
    flush: tuple[str, ...] = ()  # one command emptying our chain, as another writer would


# A family's set is written under one of two names in turn (model.IntervalSet's slot): the
# same rules whichever holds them, so the state names both the same.
_SLOT_B: Final = re.compile(r"\b(nomasq_ipv[46])_b\b")


def _nft_state(ns: Namespace) -> str:
    done = ns.run("nft", "list", "table", "inet", TABLE, check=False)
    return _SLOT_B.sub(r"\1", done.stdout) if done.returncode == 0 else ""


def nft_live_set(ns: Namespace, family: str) -> str | None:
    """The set our chain looks up for `family` now: its name moves between two slots."""
    done = ns.run("nft", "-j", "list", "table", "inet", TABLE, check=False)
    return live_set(done.stdout, family) if done.returncode == 0 else None


def _nft_holds(ns: Namespace, cidr: str) -> bool:
    return holds(ns, TABLE, Prefix.parse(cidr))


def _nft_delete_element(ns: Namespace) -> None:
    live = nft_live_set(ns, "ipv4")
    assert live is not None, "no set looked up to tamper with"
    ns.run("nft", "delete", "element", "inet", TABLE, live, "{ 10.0.0.0/8 }")


def _nft(*args: str) -> Tamper:
    def tamper(ns: Namespace) -> None:
        ns.run("nft", *args)

    return tamper


NFTABLES = BackendView(
    "nftables",
    _nft_state,
    _nft_holds,
    {
        "whole": _nft("delete", "table", "inet", TABLE),
        "element": _nft_delete_element,
        "hook": _nft("delete", "chain", "inet", TABLE, "postrouting"),
    },
    ("nft", "flush", "chain", "inet", TABLE, "postrouting"),
)


def _iptables_view(name: str, tool: str) -> BackendView:
    def saved(ns: Namespace, family_tool: str) -> list[str]:
        # The whole ruleset: `-save -t nat` would create a legacy nat table just by looking.
        out = ns.run(f"{family_tool}-save").stdout.splitlines()
        return [
            line
            for line in out
            if line.startswith((f":{CHAIN} ", f"-A {CHAIN} ")) or line.endswith(f"-j {CHAIN}")
        ]

    def state(ns: Namespace) -> str:
        six = tool.replace("iptables", "ip6tables")
        return "\n".join(saved(ns, tool) + saved(ns, six))

    def holds(ns: Namespace, cidr: str) -> bool:
        family_tool = tool.replace("iptables", "ip6tables") if ":" in cidr else tool
        return any(f" -d {cidr} " in line for line in saved(ns, family_tool))

    def jump(ns: Namespace) -> str:
        return next(line for line in saved(ns, tool) if line.startswith("-A POSTROUTING"))

    def restore(ns: Namespace, *lines: str) -> None:
        ns.run(f"{tool}-restore", "-w", "--noflush", input="\n".join(["*nat", *lines, "COMMIT\n"]))

    return BackendView(
        name,
        state,
        holds,
        {
            "whole": lambda ns: restore(ns, "-D" + jump(ns)[2:], f"-F {CHAIN}", f"-X {CHAIN}"),
            "element": lambda ns: restore(ns, f"-D {CHAIN} 2"),  # the first configured CIDR
            "hook": lambda ns: restore(ns, "-D" + jump(ns)[2:]),
        },
        (tool, "-w", "-t", "nat", "-F", CHAIN),
    )


IPTABLES_NFT = _iptables_view("iptables-nft", "iptables-nft")
IPTABLES_LEGACY = _iptables_view("iptables-legacy", "iptables-legacy")
VIEWS = {view.name: view for view in (IPTABLES_NFT, IPTABLES_LEGACY, NFTABLES)}
