"""A memory cgroup a lab process runs in, limited as its pod's container is; removed on close."""

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from testbed.netlab.lab import Lab, LabError, Namespace

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_MEMORY = CGROUP_ROOT / "memory"


def memory_cgroup_unavailable() -> str | None:
    """Why a memory-limited cgroup cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to create a cgroup"
    if "memory" in _read(CGROUP_ROOT / "cgroup.controllers").split():
        if "memory" not in _read(CGROUP_ROOT / "cgroup.subtree_control").split():
            return "cgroup v2 without the memory controller enabled for children"
        return None
    if (_V1_MEMORY / "memory.limit_in_bytes").is_file():
        return None
    return "no memory cgroup controller mounted (neither cgroup v2 nor v1 memory)"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class MemoryCgroup:
    """A fresh cgroup whose processes share `limit_bytes` of memory and no swap (kubelet's).

    cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`), whichever the host has. It is
    made at the hierarchy's top, where container runtimes put theirs (v2 forbids children of
    a cgroup that holds processes). Processes join through `wrap`, before they exec, so every
    byte they ever allocate, and their children's, is charged. `close` kills what is left in
    it and removes it.
    """

    def __init__(self, limit_bytes: int, prefix: str = "ipmasq-lab") -> None:
        reason = memory_cgroup_unavailable()
        if reason is not None:
            raise LabError(f"memory cgroup: {reason}")
        self.limit_bytes = limit_bytes
        self.v2 = (CGROUP_ROOT / "cgroup.controllers").is_file()
        parent = CGROUP_ROOT if self.v2 else _V1_MEMORY
        self.path = parent / f"{prefix}-{secrets.token_hex(4)}"
        self.path.mkdir()
        try:
            if self.v2:
                self._write("memory.max", str(limit_bytes))
                self._write_if_present("memory.swap.max", "0")
            else:
                self._write("memory.limit_in_bytes", str(limit_bytes))
                # After the memory limit: memsw may never be below it. No swap, as on a node.
                self._write_if_present("memory.memsw.limit_in_bytes", str(limit_bytes))
        except BaseException:
            self.path.rmdir()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, name: str, value: str) -> None:
        (self.path / name).write_text(value)

    def _write_if_present(self, name: str, value: str) -> None:
        if (self.path / name).exists():
            self._write(name, value)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """`argv` run by a shell that first moves itself into the cgroup, then execs it."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *argv]

    def spawn(
        self, lab: Lab, ns: Namespace, argv: Sequence[str], *, output: Path
    ) -> subprocess.Popen[str]:
        """`argv` in `ns` and in this cgroup, owned (and killed on close) by `lab`.

        The cgroup is joined outside `ip netns exec`, which mounts a sysfs of its own that
        has no cgroup file system; `ip` then execs in place, so the pid stays the agent's.
        """
        with output.open("a") as sink:
            process = subprocess.Popen(
                self.wrap([*ns.prefix, *argv]),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )
        lab.processes.append(process)
        return process

    def pids(self) -> list[int]:
        return [int(pid) for pid in _read(self.path / "cgroup.procs").split()]

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this cgroup for going over the limit."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        for line in _read(self.path / name).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def usage(self) -> int:
        """Bytes charged now (resident memory, page cache and kernel memory of the processes)."""
        name = "memory.current" if self.v2 else "memory.usage_in_bytes"
        return int(_read(self.path / name) or 0)

    def close(self) -> None:
        deadline = time.monotonic() + 5
        while self.path.exists():
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
            except OSError:  # busy until the killed processes are reaped
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
