"""The agent image: an Artifact Registry repository and the build of agent_image/ pushed to it."""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp


class AgentImageArgs(TypedDict):
    """Inputs of the AgentImage component."""

    location: pulumi.Input[str]
    """Artifact Registry region (the cluster's region keeps pulls local)."""
    context: pulumi.Input[str]
    """Build context directory (agent_image/)."""
    dockerfile: pulumi.Input[str]
    """Path of the Dockerfile."""
    repository_id: NotRequired[pulumi.Input[str]]
    """Artifact Registry repository name (default ip-masq-agent)."""


class AgentImage(pulumi.ComponentResource):
    """Builds and pushes the agent; `ref` pins the pushed digest: nodes run exactly this build."""

    ref: pulumi.Output[str]
    """The pushed image, name@sha256:digest: what the DaemonSet runs."""

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
        image = docker_build.Image(
            f"{name}-build",
            context=docker_build.BuildContextArgs(location=args["context"]),
            dockerfile=docker_build.DockerfileArgs(location=args["dockerfile"]),
            platforms=[docker_build.Platform.LINUX_AMD64],
            tags=[tag],
            # Credentials: Docker's helper (`gcloud auth configure-docker REGION-docker.pkg.dev`).
            push=True,
            opts=child,
        )
        # `ref` is the pushed tag with its digest (REPO:TAG@sha256:...), known after the build.
        self.ref = image.ref
        self.register_outputs({"ref": self.ref})
