"""The sandbox's agent runtimes: which images are the agent's, what each refuses up front."""

import dataclasses
import functools
from pathlib import Path

import pytest

from testbed.kubelet.pod_spec import PodSpecError
from testbed.netlab.lab import Lab
from testbed.runtimes import ContainerRuntime, ProcessRuntime, agent_runtime, map_image
from testbed.sandbox.stack import SandboxStack, render_sandbox_stack
from tests.testbed.test_pod_spec import CONTAINER, changed

BUILT = "sha256:0123"


@pytest.mark.parametrize(
    "image",
    [
        "localhost/ip-masq-agent:dev",
        "<unknown until deployed: spec.template.spec.containers[0].image>",
        "europe-west1-docker.pkg.dev/p/r/ip-masq-agent@sha256:abcd",
        "ip-masq-agent",
    ],
)
def test_the_agents_image_or_a_placeholder_maps_to_the_built_one(image: str) -> None:
    assert map_image(image, BUILT) == BUILT


def test_another_image_is_refused_by_name() -> None:
    with pytest.raises(PodSpecError, match=r"'registry\.k8s\.io/pause:3\.9'.*no registry"):
        map_image("registry.k8s.io/pause:3.9", BUILT)


@functools.cache
def local_stack() -> SandboxStack:
    return render_sandbox_stack("local")


@pytest.mark.parametrize(
    ("image", "backend"),
    [pytest.param(None, None, id="no-image"), pytest.param(BUILT, "nftables", id="backend")],
)
def test_the_container_runtime_needs_an_image_and_the_rendered_backend(
    image: str | None, backend: str | None, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="needs an image and no backend override"):
        agent_runtime(
            "container", Lab(), local_stack(), tmp_path, backend=backend, image=image, arch="amd64"
        )


def test_a_foreign_image_is_refused_before_any_node_is_built(tmp_path: Path) -> None:
    stack = dataclasses.replace(
        local_stack(), daemon_set=changed(f"{CONTAINER}.image", "registry.k8s.io/pause:3.9")
    )
    with pytest.raises(PodSpecError, match="no registry"):
        agent_runtime("container", Lab(), stack, tmp_path, backend=None, image=BUILT, arch="amd64")
    assert list(tmp_path.iterdir()) == []


def test_each_runtime_is_named_for_what_it_runs(tmp_path: Path) -> None:
    process = agent_runtime(
        "process", Lab(), local_stack(), tmp_path, backend=None, image=None, arch="amd64"
    )
    container = agent_runtime(
        "container", Lab(), local_stack(), tmp_path, backend=None, image=BUILT, arch="amd64"
    )
    assert (process.name, container.name) == ("process", "container")
    assert isinstance(process, ProcessRuntime)
    assert isinstance(container, ContainerRuntime)


def test_only_the_process_runtime_rolls_out(tmp_path: Path) -> None:
    container = agent_runtime(
        "container", Lab(), local_stack(), tmp_path, backend=None, image=BUILT, arch="amd64"
    )
    with pytest.raises(ValueError, match="process runtime only"):
        container.roll_out(None, 1)
