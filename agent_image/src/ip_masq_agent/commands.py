"""Running the kernel tools: one injectable command runner, optionally inside a namespace."""

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left behind."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """First meaningful line of stderr (or stdout), for one-line error messages."""
        for line in (self.stderr + "\n" + self.stdout).splitlines():
            if line.strip():
                return line.strip()
        return f"exit status {self.returncode}"


class CommandRunner(Protocol):
    """Runs one command to completion; never raises for a non-zero exit status."""

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult: ...


class SubprocessRunner:
    """Runs commands as child processes, each prefixed (e.g. `ip netns exec NAME`)."""

    def __init__(self, prefix: Sequence[str] = (), *, timeout: float = 30.0) -> None:
        self._prefix = tuple(prefix)
        self._timeout = timeout

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        if stdin is None:
            return self._run(args, None)
        # The script goes in whole before the tool starts: through a pipe, an agent killed
        # mid-write would hand `nft -f -` a truncated script, and a prefix of line-based
        # commands (`flush set`, ...) parses and commits as if it were the whole.
        with os.fdopen(os.memfd_create("ip-masq-agent-stdin"), "w+b") as script:
            script.write(stdin.encode("utf-8", "surrogateescape"))
            script.seek(0)
            return self._run(args, script.fileno())

    def _run(self, args: Sequence[str], stdin: int | None) -> CommandResult:
        argv = (*self._prefix, *args)
        try:
            done = subprocess.run(
                argv,
                stdin=stdin,
                capture_output=True,
                # Rule comments are arbitrary bytes: another tool's non-UTF-8 comment in
                # `iptables-save` or `nft list` output must not crash the agent. Undecodable
                # bytes survive as surrogates, so the text still round-trips exactly.
                encoding="utf-8",
                errors="surrogateescape",
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError:
            return CommandResult(argv, 127, "", f"{argv[0]}: command not found")
        except OSError as err:  # e.g. not executable: a failed sync, not a crashed agent
            return CommandResult(argv, 126, "", f"{argv[0]}: {err.strerror}")
        except subprocess.TimeoutExpired:
            return CommandResult(
                argv, 124, "", f"{' '.join(args[:1])}: timed out after {self._timeout}s"
            )
        return CommandResult(argv, done.returncode, done.stdout, done.stderr)
