"""ip-masq-agent-least-privilege: the agent DaemonSet holds only what programming NAT needs."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pulumi_policy import ResourceValidationArgs

from ip_masq_agent.contract import (
    LOOPBACK_HOSTS,
    LOOPBACK_IPV4,
    NODE_CRITICAL_PRIORITY_CLASS,
    XTABLES_LOCK,
)
from pulumi_ip_masq_agent.policy.agent_object_policy import Report, agent_object_policy
from pulumi_ip_masq_agent.policy.kubernetes_objects import pod_containers, pod_spec
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.policy.props import as_list, as_mapping, as_text, dig

NAME: Final = "ip-masq-agent-least-privilege"
ALLOWED_CAPABILITIES: Final = frozenset({"NET_ADMIN", "NET_RAW"})
# The xtables lock (the contract's: why there), nothing else of the host.
ALLOWED_HOST_PATHS: Final = frozenset({XTABLES_LOCK})
PRIORITY_CLASS: Final = NODE_CRITICAL_PRIORITY_CLASS
_HEALTH_FLAG: Final = "--health-address="
TAINT_EFFECTS: Final = ("NoSchedule", "NoExecute")

Check = Callable[[str, Mapping[str, Any], Callable[[str], None]], None]


def _check_containers(
    subject: str, props: Mapping[str, Any], report: Callable[[str], None]
) -> None:
    for container in pod_containers(props):
        where = f"{subject}: container {as_text(container.get('name')) or '?'}"
        security = as_mapping(container.get("securityContext"))
        if security.get("privileged") is True:
            report(f"{where}: securityContext.privileged is true")
        if security.get("allowPrivilegeEscalation") is not False:
            report(f"{where}: securityContext.allowPrivilegeEscalation must be false")
        if security.get("readOnlyRootFilesystem") is not True:
            report(f"{where}: securityContext.readOnlyRootFilesystem must be true")
        added = [str(cap) for cap in as_list(dig(security, "capabilities", "add"))]
        extra = sorted({cap.upper().removeprefix("CAP_") for cap in added} - ALLOWED_CAPABILITIES)
        if extra:
            report(
                f"{where}: securityContext.capabilities.add has {', '.join(extra)}; "
                "only NET_ADMIN and NET_RAW are needed"
            )
        resources = as_mapping(container.get("resources"))
        missing = [
            f"{section}.{key}"
            for section, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",)))
            for key in keys
            if key not in as_mapping(resources.get(section))
        ]
        if missing:
            report(f"{where}: resources {', '.join(missing)} not set")


def _health_host(args: Sequence[Any]) -> str | None:
    """The host `--health-address` names (the agent's default is loopback); None: turned off."""
    host = LOOPBACK_IPV4
    for arg in args:
        text = as_text(arg) or ""
        if text.startswith(("-health-address=", _HEALTH_FLAG)):
            value = text.partition("=")[2]
            if not value:
                return None
            host = value.rpartition(":")[0].strip("[]")
    return host


def _check_health_exposure(
    subject: str, props: Mapping[str, Any], report: Callable[[str], None]
) -> None:
    """/healthz and /readyz on loopback, and kubelet's probes asking there."""
    for container in pod_containers(props):
        where = f"{subject}: container {as_text(container.get('name')) or '?'}"
        host = _health_host(as_list(container.get("args")))
        if host is None:
            continue
        if host not in LOOPBACK_HOSTS:
            report(
                f"{where}: --health-address on {host or 'every address'} serves /healthz and"
                " /readyz on the node's addresses to every pod; use 127.0.0.1:PORT and the"
                " probes' host: 127.0.0.1"
            )
            continue
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            get = as_mapping(dig(container, kind, "httpGet"))
            if get and as_text(get.get("host")) not in LOOPBACK_HOSTS:
                report(
                    f"{where}: {kind}.httpGet has no host: 127.0.0.1, so kubelet probes the"
                    " node's address where health does not listen (every probe fails)"
                )


def _check_volumes(subject: str, props: Mapping[str, Any], report: Callable[[str], None]) -> None:
    for raw in as_list(pod_spec(props).get("volumes")):
        volume = as_mapping(raw)
        name = as_text(volume.get("name")) or "?"
        host_path = as_mapping(volume.get("hostPath"))
        if host_path and host_path.get("path") not in ALLOWED_HOST_PATHS:
            report(
                f"{subject}: volume {name} mounts hostPath {host_path.get('path')!r}; "
                f"only {', '.join(sorted(ALLOWED_HOST_PATHS))} is allowed"
            )
        for source in as_list(dig(volume, "projected", "sources")):
            if "serviceAccountToken" in as_mapping(source):
                report(f"{subject}: volume {name} projects a service-account token")


def _check_pod(subject: str, props: Mapping[str, Any], report: Callable[[str], None]) -> None:
    spec = pod_spec(props)
    if spec.get("automountServiceAccountToken") is not False:
        report(f"{subject}: automountServiceAccountToken must be false (the agent needs no API)")
    for field in ("hostPID", "hostIPC"):
        if spec.get(field) is True:
            report(f"{subject}: {field} is true")
    if spec.get("priorityClassName") != PRIORITY_CLASS:
        report(
            f"{subject}: priorityClassName is {spec.get('priorityClassName')!r}, want "
            f"{PRIORITY_CLASS!r} so the agent is not evicted before the pods it serves"
        )


def _tolerates_every(effect: str, tolerations: list[Mapping[str, Any]]) -> bool:
    return any(
        toleration.get("operator") == "Exists"
        and not toleration.get("key")
        and toleration.get("effect") in (None, "", effect)
        for toleration in tolerations
    )


def _check_tolerations(
    subject: str, props: Mapping[str, Any], report: Callable[[str], None]
) -> None:
    tolerations = [as_mapping(t) for t in as_list(pod_spec(props).get("tolerations"))]
    missing = [effect for effect in TAINT_EFFECTS if not _tolerates_every(effect, tolerations)]
    if missing:
        report(
            f"{subject}: tolerations do not reach every node: add "
            f"{{operator: Exists, effect: {missing[0]}}} (or {{operator: Exists}})"
        )


CHECKS: Final[tuple[Check, ...]] = (
    _check_containers,
    _check_health_exposure,
    _check_volumes,
    _check_pod,
    _check_tolerations,
)


@agent_object_policy("DaemonSet")
def validate_least_privilege(
    subject: str, args: ResourceValidationArgs, report: Report, unknowns: PreviewUnknowns
) -> None:
    """Not privileged, NET_ADMIN/NET_RAW only, no host path but the xtables lock, and so on."""
    for check in CHECKS:
        with unknowns.guard():
            check(subject, args.props, report)
