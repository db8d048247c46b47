"""Recognising the ip-masq-agent ConfigMap and DaemonSet among Kubernetes resources."""

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from pulumi_policy.proxy import UnknownValueError

from ip_masq_agent.contract import AGENT_NAME, CONFIG_MAP_NAME, CONFIG_MAP_NAMESPACE
from pulumi_ip_masq_agent.policy.props import as_list, as_mapping, as_text, dig

CONFIGMAP_PATCH: Final = "kubernetes:core/v1:ConfigMapPatch"
# A stack may also patch the ConfigMap GKE created (server-side apply) instead of owning it.
CONFIGMAP_TYPES: Final = frozenset({"kubernetes:core/v1:ConfigMap", CONFIGMAP_PATCH})
DAEMONSET_TYPES: Final = frozenset({"kubernetes:apps/v1:DaemonSet"})
# The recommended label, and upstream's manifests' label.
AGENT_LABELS: Final = ("app.kubernetes.io/name", "k8s-app")


def is_agent_configmap(resource_type: str, props: Mapping[str, Any]) -> bool:
    """The ConfigMap the agent reads: kube-system/ip-masq-agent, whoever deploys it."""
    if resource_type not in CONFIGMAP_TYPES:
        return False
    metadata = as_mapping(props.get("metadata"))
    return (
        metadata.get("name") == CONFIG_MAP_NAME
        and (metadata.get("namespace") or "default") == CONFIG_MAP_NAMESPACE
    )


def _image_repository(image: str) -> str:
    name = image.split("@", 1)[0]
    # A tag follows the last colon only when that colon comes after the last slash (ports!).
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return name.rsplit("/", 1)[-1]


def _evidence(check: Callable[[Any], bool], value: Any) -> bool:
    # A signal unknown during preview is no evidence either way; the others decide.
    try:
        return check(value)
    except UnknownValueError:
        return False


def _named(props: Any) -> bool:
    return str(dig(props, "metadata", "name") or "").startswith(AGENT_NAME)


def _labelled(labels: Any) -> bool:
    return any(as_mapping(labels).get(key) == AGENT_NAME for key in AGENT_LABELS)


def _mounts_config(volume: Any) -> bool:
    return bool(dig(volume, "configMap", "name") == CONFIG_MAP_NAME)


def _runs_agent(container: Any) -> bool:
    container = as_mapping(container)
    if container.get("name") == AGENT_NAME:
        return True
    return _image_repository(as_text(container.get("image")) or "") == AGENT_NAME


def _parts(props: Mapping[str, Any], *path: str) -> list[Any]:
    try:
        return list(as_list(dig(props, *path)))
    except UnknownValueError:
        return []


def is_agent_daemonset(resource_type: str, props: Mapping[str, Any]) -> bool:
    """Our agent, or anyone's: named, labelled, mounting the ConfigMap or running the image."""
    if resource_type not in DAEMONSET_TYPES:
        return False
    template = ("spec", "template")
    return (
        _evidence(_named, props)
        or _evidence(_labelled, _evidence_value(props, "metadata", "labels"))
        or _evidence(_labelled, _evidence_value(props, *template, "metadata", "labels"))
        or any(_evidence(_mounts_config, v) for v in _parts(props, *template, "spec", "volumes"))
        or any(
            _evidence(_runs_agent, c)
            for key in ("initContainers", "containers")
            for c in _parts(props, *template, "spec", key)
        )
    )


def _evidence_value(props: Mapping[str, Any], *path: str) -> Any:
    try:
        return dig(props, *path)
    except UnknownValueError:
        return None


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
