"""Sandbox fixtures: stacks rendered once per session by the real program, clusters per test."""

import dataclasses
import functools
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed.netlab.lab import REPO_ROOT, Lab
from testbed.runtimes import Runtime
from testbed.sandbox.cluster_agents import SandboxCluster
from testbed.sandbox.stack import RESYNC_KEY, SandboxStack, render_sandbox_stack

# Fault tests need drift repaired in test time: the stack's own resyncInterval, shortened
# through stack config, so the rendered ConfigMap carries it as a user would set it.
FAST_RESYNC = {RESYNC_KEY: "2s"}


@functools.cache
def rendered(
    stack: str, extra_cidrs: tuple[str, ...] = (), fast_resync: bool = False
) -> SandboxStack:
    return render_sandbox_stack(
        stack, extra_cidrs=extra_cidrs, overrides=FAST_RESYNC if fast_resync else None
    )


class SandboxFactory:
    """Builds sandboxes in the test's lab; agents started and ready."""

    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab = lab
        self.workdir = workdir

    def __call__(
        self,
        stack: SandboxStack,
        *,
        backend: str | None,
        nodes: int = 2,
        start: bool = True,
        runtime: Runtime = "process",
        image: str | None = None,
        arch: str = "amd64",
    ) -> SandboxCluster:
        sandbox = SandboxCluster(
            self.lab,
            stack,
            self.workdir,
            nodes=nodes,
            backend=backend,
            runtime=runtime,
            image=image,
            arch=arch,
        )
        if start:
            sandbox.start_agents()
        return sandbox


@pytest.fixture
def make_sandbox(lab: Lab, tmp_path: Path) -> Iterator[SandboxFactory]:
    factory = SandboxFactory(lab, tmp_path)
    try:
        yield factory
    finally:
        # Agent logs help when a test failed; pytest shows captured output only on failure.
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")


@dataclasses.dataclass(frozen=True)
class InterruptedDemo:
    token: str  # the sandbox's, as the demo printed it
    returncode: int
    stderr: str
    while_running: object  # what `on_ready` returned while the agents were up


def sigterm_mid_demo(
    *args: str, on_ready: Callable[[str], object] = lambda _token: None, bound: float = 180
) -> InterruptedDemo:
    """Run `python -m testbed.sandbox.demo ARGS`, SIGTERM it once its agents are ready (bounded)."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "testbed.sandbox.demo", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Bounded in time too: a demo that hangs before "agents ready" is killed, and fails.
    watchdog = threading.Timer(bound, demo.kill)
    watchdog.start()
    try:
        assert demo.stdout is not None
        token = None
        for line in demo.stdout:  # bounded: the demo prints a few dozen lines, then exits
            if line.startswith("sandbox "):
                token = line.split()[1].rstrip(":")
            if line.startswith("agents ready"):
                break
        assert token is not None
        seen = on_ready(token)
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    return InterruptedDemo(token, demo.returncode, err, seen)
