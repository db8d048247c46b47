"""Shared helpers for the agent's kernel tests: run the agent on Debian's python3, read rules."""

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from netlab.lab import REPO_ROOT, Namespace

AGENT_SRC = REPO_ROOT / "agent_image" / "src"
CHAIN = "IP-MASQ-AGENT"
JUMP_SUFFIX = f"-j {CHAIN}"


def agent_argv(*args: str) -> list[str]:
    """The agent as the image runs it: Debian's /usr/bin/python3 -s, only Debian's packages."""
    return [
        "env",
        f"PYTHONPATH={AGENT_SRC}",
        "/usr/bin/python3",
        "-s",
        "-m",
        "ip_masq_agent",
        *args,
    ]


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


def health_get(node: Namespace, port: int, path: str) -> tuple[int, str]:
    """(status, body) of the agent's HTTP endpoint, asked from inside the node namespace."""
    script = (
        "import json,sys,urllib.request as u,urllib.error as e\n"
        "try:\n r=u.urlopen(sys.argv[1],timeout=2)\n"
        " print(json.dumps([r.status,r.read().decode()]))\n"
        "except e.HTTPError as x: print(json.dumps([x.code,x.read().decode()]))\n"
    )
    out = node.run("/usr/bin/python3", "-c", script, f"http://127.0.0.1:{port}{path}").stdout
    status, body = json.loads(out)
    return int(status), str(body)


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> float | None:
    """Seconds until `predicate` held, or None if it did not within `timeout` (bounded loop)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(step)
    return None


class KubeletVolume:
    """A ConfigMap volume as kubelet writes it: `config -> ..data/config`, `..data` swapped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "config"
        self._version = 0

    def write(self, text: str) -> None:
        self._version += 1
        data = self.directory / f"..2026_01_01_00_00_00.{self._version:04d}"
        data.mkdir()
        (data / "config").write_text(text)
        tmp = self.directory / "..data_tmp"
        tmp.symlink_to(data.name)
        os.replace(tmp, self.directory / "..data")
        if not self.path.is_symlink():
            self.path.symlink_to("..data/config")
