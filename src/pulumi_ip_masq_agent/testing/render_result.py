"""What an offline render of a Pulumi program yields: the resources it registered, its
outputs, and the stand-ins for values only a deployment knows."""

from dataclasses import dataclass, field
from typing import Any, Final

from pulumi_ip_masq_agent.settings import PROJECT

# In place of any value the engine only learns by deploying (digests, endpoints, ids).
UNKNOWN_PREFIX: Final = "<unknown until deployed"


class RenderError(Exception):
    """The program cannot be rendered offline; the message is one line."""


def unknown_marker(path: str) -> str:
    """The stand-in written for an unknown value at `path`."""
    return f"{UNKNOWN_PREFIX}: {path}>"


def is_unknown(value: object) -> bool:
    """True for the stand-in of a value that is only known after deployment."""
    return isinstance(value, str) and value.startswith(UNKNOWN_PREFIX)


@dataclass(frozen=True)
class RegisteredResource:
    """One resource the program registered: its type token, logical name and inputs."""

    type: str
    name: str
    inputs: dict[str, Any]

    @property
    def is_kubernetes_object(self) -> bool:
        return self.type.startswith("kubernetes:") and "apiVersion" in self.inputs


@dataclass(frozen=True)
class RenderResult:
    """Everything one run of the program registered and exported."""

    stack: str
    resources: tuple[RegisteredResource, ...]
    outputs: dict[str, Any]
    unknown_paths: tuple[str, ...] = field(default=())
    project: str = PROJECT

    def kubernetes_objects(self) -> list[RegisteredResource]:
        return [r for r in self.resources if r.is_kubernetes_object]

    def of_type(self, type_token: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_token]
