"""Recognising the ip-masq-agent ConfigMap and DaemonSet among Kubernetes resources."""

from collections.abc import Iterator, Mapping
from typing import Any, Final

from policies.props import as_list, as_mapping, as_text, dig

CONFIGMAP_TYPES: Final = frozenset({"kubernetes:core/v1:ConfigMap"})
DAEMONSET_TYPES: Final = frozenset({"kubernetes:apps/v1:DaemonSet"})
AGENT_NAME: Final = "ip-masq-agent"
AGENT_NAMESPACE: Final = "kube-system"
CONFIG_KEY: Final = "config"


def is_agent_configmap(resource_type: str, props: Mapping[str, Any]) -> bool:
    """The ConfigMap the agent reads: kube-system/ip-masq-agent, whoever deploys it."""
    if resource_type not in CONFIGMAP_TYPES:
        return False
    metadata = as_mapping(props.get("metadata"))
    return (
        metadata.get("name") == AGENT_NAME
        and (metadata.get("namespace") or "default") == AGENT_NAMESPACE
    )


def _image_repository(image: str) -> str:
    name = image.split("@", 1)[0]
    # A tag follows the last colon only when that colon comes after the last slash (ports!).
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return name.rsplit("/", 1)[-1]


def is_agent_daemonset(resource_type: str, props: Mapping[str, Any]) -> bool:
    """Our agent: a DaemonSet named ip-masq-agent, or one running an ip-masq-agent image."""
    if resource_type not in DAEMONSET_TYPES:
        return False
    if dig(props, "metadata", "name") == AGENT_NAME:
        return True
    for container in pod_containers(props):
        image = as_text(container.get("image"))
        if image is not None and _image_repository(image) == AGENT_NAME:
            return True
    return False


def pod_spec(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The DaemonSet's pod template spec."""
    return as_mapping(dig(props, "spec", "template", "spec"))


def pod_containers(props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init containers then containers of the pod template."""
    spec = pod_spec(props)
    for key in ("initContainers", "containers"):
        for container in as_list(spec.get(key)):
            yield as_mapping(container)


def describe(kind: str, props: Mapping[str, Any], pulumi_name: str) -> str:
    """`DaemonSet kube-system/ip-masq-agent (ip-masq-agent-ds)`: what a reviewer searches for."""
    metadata = as_mapping(props.get("metadata"))
    name = as_text(metadata.get("name")) or "?"
    namespace = as_text(metadata.get("namespace")) or "default"
    return f"{kind} {namespace}/{name} ({pulumi_name})"
