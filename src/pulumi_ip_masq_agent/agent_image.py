"""The agent image: an Artifact Registry repository and the build of agent_image/ pushed to it."""

from pathlib import Path
from typing import Final, NotRequired, TypedDict

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp

from pulumi_ip_masq_agent._version import __version__

# The agent's build context (Dockerfile, .dockerignore, src/ip_masq_agent) as the package ships
# it: in git a symlink to agent_image/, in the wheel and sdist a copy made by setuptools from
# package-data (pyproject.toml). Resolved, so a checkout's editable install builds agent_image/.
BUILD_CONTEXT: Final = (Path(__file__).parent / "agent_context").resolve()


class AgentImageArgs(TypedDict):
    """Inputs of the AgentImage component."""

    location: pulumi.Input[str]
    """Artifact Registry region (the cluster's region keeps pulls local)."""
    context: NotRequired[pulumi.Input[str]]
    """Build context directory (default: the agent's, shipped inside this package)."""
    dockerfile: NotRequired[pulumi.Input[str]]
    """Path of the Dockerfile (default: `context`'s Dockerfile)."""
    repository_id: NotRequired[pulumi.Input[str]]
    """Artifact Registry repository name (default ip-masq-agent)."""


class AgentImage(pulumi.ComponentResource):
    """Builds and pushes the agent; `ref` pins the pushed digest: nodes run exactly this build."""

    ref: pulumi.Output[str]
    """The pushed manifest list (linux/amd64, linux/arm64), name@sha256:digest: what the
    DaemonSet runs."""

    def __init__(
        self, name: str, args: AgentImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ip-masq-agent:index:AgentImage", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        repository = gcp.artifactregistry.Repository(
            f"{name}-repo",
            repository_id=args.get("repository_id", "ip-masq-agent"),
            location=args["location"],
            format="DOCKER",
            description="ip-masq-agent images built by this stack",
            opts=child,
        )
        tag = pulumi.Output.concat(
            repository.location,
            "-docker.pkg.dev/",
            repository.project,
            "/",
            repository.repository_id,
            "/ip-masq-agent:latest",
        )
        context = pulumi.Output.from_input(args.get("context", str(BUILD_CONTEXT)))
        dockerfile = args.get("dockerfile", context.apply(lambda c: str(Path(c) / "Dockerfile")))
        image = docker_build.Image(
            f"{name}-build",
            context=docker_build.BuildContextArgs(location=context),
            dockerfile=docker_build.DockerfileArgs(location=dockerfile),
            build_args={"VERSION": __version__},
            # One manifest list: `ref` pins it, each node pulls its own architecture's image.
            platforms=[docker_build.Platform.LINUX_AMD64, docker_build.Platform.LINUX_ARM64],
            tags=[tag],
            # Credentials: Docker's helper (`gcloud auth configure-docker REGION-docker.pkg.dev`).
            push=True,
            opts=child,
        )
        # `ref` is the pushed tag with its digest (REPO:TAG@sha256:...), known after the build.
        self.ref = image.ref
        self.register_outputs({"ref": self.ref})
