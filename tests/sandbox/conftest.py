"""Sandbox fixtures: stacks rendered once per session by the real program, clusters per test."""

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.lab import Lab
from sandbox.cluster_agents import Runtime, SandboxCluster
from sandbox.stack import RESYNC_KEY, SandboxStack, render_sandbox_stack

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
    ) -> SandboxCluster:
        sandbox = SandboxCluster(
            self.lab,
            stack,
            self.workdir,
            nodes=nodes,
            backend=backend,
            runtime=runtime,
            image=image,
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
        for log in sorted(tmp_path.glob("*agent.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")
