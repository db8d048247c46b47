"""Namespaces and veth links that a test, benchmark or demo creates and always removes."""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

REPO_ROOT = Path(__file__).resolve().parents[2]


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


def kernel_lab_unavailable() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("ip", "iptables", "ip6tables", "iptables-legacy", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = f"nlprobe{secrets.token_hex(3)}"
    created = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if created.returncode != 0:
        return f"ip netns add failed: {created.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


class Namespace:
    """One network namespace of the lab; every command runs inside it."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def prefix(self) -> list[str]:
        """argv prefix that runs a command inside this namespace."""
        return ["ip", "netns", "exec", self.name]

    def run(
        self,
        *argv: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 20.0,
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.prefix, *argv],
            input=input,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",  # listings may hold another tool's non-UTF-8 comments
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise LabError(f"[{self.name}] {' '.join(argv)}: {done.stderr.strip()}")
        return done

    def popen(
        self, *argv: str, env: dict[str, str] | None = None, output: Path | None = None
    ) -> subprocess.Popen[str]:
        """Start a long-running process in the namespace (the lab kills it on close).

        With `output`, stdout and stderr go to that file: a chatty process (an agent logging
        every sync) would otherwise block once nobody drains a full pipe.
        """
        if output is None:
            return subprocess.Popen(
                [*self.prefix, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        with output.open("a") as sink:
            return subprocess.Popen(
                [*self.prefix, *argv],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )

    def python(self, module: str, *args: str) -> list[str]:
        """argv that runs one of this repo's modules with the interpreter running us."""
        # The agent's own source dir too: `-m ip_masq_agent` runs this checkout's agent.
        path = f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'agent_image' / 'src'}"
        return ["env", f"PYTHONPATH={path}", sys.executable, "-s", "-m", module, *args]

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-qw", f"{key}={value}")

    def add_address(self, device: str, cidr: str) -> None:
        # nodad: IPv6 addresses are usable at once instead of after duplicate detection.
        extra = ["nodad"] if ":" in cidr else []
        self.run("ip", "address", "add", cidr, "dev", device, *extra)

    def add_route(self, destination: str, via: str) -> None:
        family = "-6" if ":" in via else "-4"
        self.run("ip", family, "route", "replace", destination, "via", via)


class Lab:
    """Creates uniquely named namespaces and removes them, and their processes, on close."""

    def __init__(self, prefix: str = "iml") -> None:
        # Short random token: names stay unique across parallel runs on one machine.
        self.token = f"{prefix}{secrets.token_hex(3)}"
        self.namespaces: list[Namespace] = []
        self.processes: list[subprocess.Popen[str]] = []
        self._links = 0
        self._devices: list[tuple[Namespace, str]] = []
        self._deferred: list[Callable[[], None]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def namespace(self, role: str) -> Namespace:
        """A fresh namespace with loopback up and forwarding on (every lab host may route)."""
        ns = Namespace(f"{self.token}-{role}")
        subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True)
        self.namespaces.append(ns)
        ns.run("ip", "link", "set", "lo", "up")
        ns.sysctl("net.ipv4.ip_forward", "1")
        ns.sysctl("net.ipv6.conf.all.forwarding", "1")
        # No duplicate address detection: link-local addresses (used by neighbour discovery)
        # would stay tentative for a second and drop the first IPv6 probes.
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")
        return ns

    def link(
        self,
        a: Namespace,
        b: Namespace,
        a_addresses: Sequence[str] = (),
        b_addresses: Sequence[str] = (),
        *,
        a_name: str | None = None,
        b_name: str | None = None,
    ) -> tuple[str, str]:
        """A veth pair created directly between two lab namespaces (never in the host's)."""
        self._links += 1
        a_dev = a_name or f"veth{self._links}a"
        b_dev = b_name or f"veth{self._links}b"
        a.run("ip", "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b.name)
        for ns, dev, addresses in ((a, a_dev, a_addresses), (b, b_dev, b_addresses)):
            for cidr in addresses:
                ns.add_address(dev, cidr)
            ns.run("ip", "link", "set", dev, "up")
            self._devices.append((ns, dev))
        return a_dev, b_dev

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every link has carrier (veth carrier is reported asynchronously)."""
        deadline = time.monotonic() + timeout
        pending = list(self._devices)
        while pending:
            ns, dev = pending[0]
            link = ns.run("ip", "link", "show", "dev", dev).stdout
            if "state UP" in link:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise LabError(f"[{ns.name}] {dev} did not come up within {timeout}s")
            time.sleep(0.02)

    def spawn(
        self,
        ns: Namespace,
        *argv: str,
        ready_line: str | None = None,
        output: Path | None = None,
    ) -> subprocess.Popen[str]:
        """Start a process the lab owns; optionally wait (bounded) for it to print a line."""
        if ready_line is not None and output is not None:
            raise ValueError("ready_line needs the process's stdout: do not pass output too")
        process = ns.popen(*argv, output=output)
        self.processes.append(process)
        if ready_line is not None:
            assert process.stdout is not None
            line = process.stdout.readline()  # the server prints its ready line at once
            if ready_line not in line:
                process.kill()
                err = process.stderr.read() if process.stderr else ""
                raise LabError(f"[{ns.name}] {' '.join(argv)} did not start: {line!r} {err}")
        return process

    def defer(self, cleanup: Callable[[], None]) -> None:
        """Run `cleanup` first on close (newest first): containers go before their namespaces."""
        self._deferred.append(cleanup)

    def close(self) -> None:
        while self._deferred:
            self._deferred.pop()()
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=5)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self.processes.clear()
        for ns in reversed(self.namespaces):
            # Anything still running inside (an agent a test started) dies with the namespace.
            pids = subprocess.run(
                ["ip", "netns", "pids", ns.name], capture_output=True, text=True, check=False
            ).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                gone = subprocess.run(
                    ["ip", "netns", "del", ns.name], capture_output=True, check=False
                )
                if gone.returncode == 0:
                    break
                time.sleep(0.05)
        self.namespaces.clear()
