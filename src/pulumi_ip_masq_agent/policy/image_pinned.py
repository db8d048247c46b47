"""agent-image-pinned: the agent's images are referenced by digest, from allowed registries."""

import re
from collections.abc import Sequence
from typing import Any, Final

from pulumi_policy import ResourceValidationArgs

from pulumi_ip_masq_agent.policy.agent_object_policy import Report, agent_object_policy
from pulumi_ip_masq_agent.policy.kubernetes_objects import pod_containers
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.policy.props import as_list, as_text

NAME: Final = "agent-image-pinned"
DIGEST: Final = re.compile(r"@sha256:[0-9a-f]{64}")
CONFIG_SCHEMA: Final[dict[str, dict[str, Any]]] = {
    "allowedRegistries": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Image name prefixes allowed for the agent (e.g. europe-docker.pkg.dev/"
        "my-project/); empty allows any registry.",
    },
}


def _registries(value: Any) -> Sequence[str]:
    return [entry for entry in as_list(value) if isinstance(entry, str) and entry]


@agent_object_policy("DaemonSet")
def validate_image_pinned(
    subject: str, args: ResourceValidationArgs, report: Report, unknowns: PreviewUnknowns
) -> None:
    """Every container of the agent DaemonSet names its image by @sha256 digest."""
    allowed = _registries(args.get_config().get("allowedRegistries"))
    for index, container in enumerate(pod_containers(args.props)):
        with unknowns.guard():
            name = as_text(container.get("name")) or f"#{index}"
            image = as_text(container.get("image"))
            if image is None:
                report(f"{subject}: container {name} has no image")
            elif not DIGEST.search(image):
                report(
                    f"{subject}: container {name} image {image!r} is not pinned by digest "
                    "(use name@sha256:<digest> so every node runs the reviewed bytes)"
                )
            elif allowed and not any(image.startswith(prefix) for prefix in allowed):
                report(
                    f"{subject}: container {name} image {image!r} is not from an allowed "
                    f"registry ({', '.join(allowed)})"
                )
