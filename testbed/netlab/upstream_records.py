"""Upstream ip-masq-agent's recorded nat tables, looked up by (config, flags): reference as data.

The real upstream binary is not part of this project; what it wrote on its first sync for each
conformance input is recorded in ../shared/upstream/upstream-nat-tables.json (its README gives
the format). A test asks this module for upstream's answer and never invents one: an input
with no record raises `MissingRecordError`, naming the case.
"""

import base64
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from testbed.netlab.lab import REPO_ROOT, Namespace

DATA_ENV: Final = "IP_MASQ_AGENT_UPSTREAM_DATA"
_RELATIVE: Final = Path("shared") / "upstream" / "upstream-nat-tables.json"

Config = str | bytes | None  # None: no config file at all


class MissingRecordError(LookupError):
    """Upstream's answer for this input was never recorded: ask for it, never guess it."""


@dataclass(frozen=True)
class Record:
    config: bytes | None
    flags: tuple[str, ...]
    nat_tables: str
    note: str = ""

    def per_family(self) -> tuple[str, str]:
        """The IPv4 and IPv6 restore inputs: the record is split at its second `*nat`."""
        first, marker, second = self.nat_tables.partition("\n*nat\n")
        if not marker:
            raise ValueError(f"record for flags {self.flags} holds one family only")
        return first + "\n", "*nat\n" + second + "\n"


def _as_bytes(config: Config) -> bytes | None:
    return config.encode() if isinstance(config, str) else config


def _origin_parent(root: Path) -> Path | None:
    """The directory holding the repository `root` was cloned from, if that is a local path."""
    done = subprocess.run(
        ["git", "-C", str(root), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    )
    origin = done.stdout.strip().removeprefix("file://")
    if done.returncode != 0 or not origin or "://" in origin:
        return None
    return (root / origin).resolve().parent  # a relative origin is relative to the clone


def data_path(root: Path = REPO_ROOT) -> Path:
    """`IP_MASQ_AGENT_UPSTREAM_DATA`, else ../shared beside the checkout `root`, else beside the
    repository a temporary clone came from (the first that exists; else the first default)."""
    named = os.environ.get(DATA_ENV)
    if named:
        return Path(named)
    candidates = [root.parent / _RELATIVE]
    origin = _origin_parent(root)
    if origin is not None:
        candidates.append(origin / _RELATIVE)
    return next((path for path in candidates if path.is_file()), candidates[0])


@dataclass(frozen=True)
class UpstreamRecords:
    """Every record of the file, keyed by (config bytes, flags)."""

    path: Path
    by_input: dict[tuple[bytes | None, tuple[str, ...]], Record]

    @classmethod
    def load(cls, path: Path) -> "UpstreamRecords":
        document = json.loads(path.read_text())
        by_input: dict[tuple[bytes | None, tuple[str, ...]], Record] = {}
        for raw in document["records"]:
            if raw.get("config_base64") is not None:
                config: bytes | None = base64.b64decode(raw["config_base64"])
            else:
                config = _as_bytes(raw.get("config"))
            record = Record(config, tuple(raw["flags"]), raw["nat_tables"], raw.get("note", ""))
            key = (record.config, record.flags)
            if key in by_input and by_input[key].nat_tables != record.nat_tables:
                raise ValueError(f"{path}: two different records for flags {record.flags}")
            by_input[key] = record
        return cls(path, by_input)

    def record(self, case: str, config: Config, flags: Sequence[str]) -> Record:
        found = self.by_input.get((_as_bytes(config), tuple(flags)))
        if found is None:
            raise MissingRecordError(
                f"case {case!r} has no recorded upstream answer in {self.path}"
                f" (flags {list(flags)}, config {config!r:.80}): ask for it to be recorded"
            )
        return found

    def tables(self, case: str, config: Config, flags: Sequence[str]) -> str:
        return self.record(case, config, flags).nat_tables

    def noted(self, *words: str) -> list[Record]:
        """Records whose note holds every one of `words` (GKE's managed agent's, say)."""
        return [r for r in self.by_input.values() if all(w in r.note for w in words)]


def nat_tables(ns: Namespace) -> str:
    """Both families' nat tables as the record holds them: -save output less its `#` lines."""
    saved = [ns.run(tool, "-t", "nat").stdout for tool in ("iptables-save", "ip6tables-save")]
    return "\n".join(
        line for text in saved for line in text.splitlines() if not line.startswith("#")
    )


def lay_upstream_node(ns: Namespace, record: Record) -> None:
    """The node as upstream left it: its recorded tables restored, family by family."""
    ipv4, ipv6 = record.per_family()
    ns.run("iptables-restore", "-w", input=ipv4)
    ns.run("ip6tables-restore", "-w", input=ipv6)
