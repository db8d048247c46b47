"""Shared helpers for the agent's kernel tests: read the iptables rules, wait (bounded)."""

import time
from collections.abc import Callable

from testbed.netlab.lab import Namespace

CHAIN = "IP-MASQ-AGENT"
JUMP_SUFFIX = f"-j {CHAIN}"


def save(ns: Namespace, tool: str = "iptables") -> str:
    """The nat table as `<tool>-save` prints it, without its timestamped comment lines."""
    out = ns.run(f"{tool}-save", "-t", "nat").stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("#"))


def chain_rules(saved: str) -> list[str]:
    return [line for line in saved.splitlines() if line.startswith(f"-A {CHAIN} ")]


def counts(saved: str) -> tuple[int, int]:
    """(chain declarations, POSTROUTING jumps to the chain) in a saved nat table."""
    lines = saved.splitlines()
    chains = sum(line.startswith(f":{CHAIN} ") for line in lines)
    jumps = sum(line.startswith("-A POSTROUTING") and line.endswith(JUMP_SUFFIX) for line in lines)
    return chains, jumps


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> float | None:
    """Seconds until `predicate` held, or None if it did not within `timeout` (bounded loop)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    return None
