"""A rendered DaemonSet read into the pod the sandbox kubelet runs; fields it cannot honour refused.

Pure: values in, values out. Every key of the object is either implemented (read into the
types below) or named as not applying to a one-node sandbox (scheduling and rollout are the
controller's and scheduler's, not the kubelet's); any other key raises `PodSpecError` naming
its path, so a field added to the DaemonSet cannot pass the sandbox silently.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class PodSpecError(ValueError):
    """The DaemonSet asks for something the sandbox kubelet does not implement, or is malformed."""


@dataclass(frozen=True)
class HttpGetProbe:
    """An httpGet probe as kubelet runs it; `host` None means the pod's IP."""

    path: str
    port: int
    host: str | None
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    success_threshold: int
    initial_delay_seconds: int


@dataclass(frozen=True)
class ConfigMapSource:
    name: str
    items: tuple[tuple[str, str], ...] | None  # (key, path); None projects every key
    optional: bool


@dataclass(frozen=True)
class HostPathSource:
    path: str
    type: str  # "" (no check), DirectoryOrCreate, Directory, FileOrCreate, File, Socket, ...


@dataclass(frozen=True)
class EmptyDirSource:
    medium: str  # "" (node disk) or "Memory" (tmpfs)
    size_limit_bytes: int | None


VolumeSource = ConfigMapSource | HostPathSource | EmptyDirSource


@dataclass(frozen=True)
class VolumeMount:
    volume: str
    mount_path: str
    read_only: bool


@dataclass(frozen=True)
class FieldRef:
    """An env value kubelet fills in from the pod (`valueFrom.fieldRef.fieldPath`)."""

    field_path: str


EnvValue = str | FieldRef


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    env: tuple[tuple[str, EnvValue], ...]
    command: tuple[str, ...] | None  # None: the image's ENTRYPOINT
    args: tuple[str, ...] | None  # None: the image's CMD
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    read_only_root: bool
    no_new_privileges: bool  # allowPrivilegeEscalation: false
    privileged: bool
    run_as_user: int | None
    seccomp: str  # RuntimeDefault or Unconfined (container's, else the pod's)
    mounts: tuple[VolumeMount, ...]
    ports: tuple[tuple[str, int], ...]  # (name, containerPort), for named probe ports
    cpu_limit: float | None  # cores
    memory_limit_bytes: int | None
    liveness: HttpGetProbe | None
    readiness: HttpGetProbe | None
    startup: HttpGetProbe | None = None  # gates the other two until it first succeeds


@dataclass(frozen=True)
class NodeSelectorRequirement:
    """One `matchExpressions` entry of a required node affinity term (In or NotIn)."""

    key: str
    operator: str
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        found = labels.get(self.key) in self.values
        return found if self.operator == "In" else not found


@dataclass(frozen=True)
class PodSpec:
    name: str  # the DaemonSet's
    namespace: str
    containers: tuple[ContainerSpec, ...]
    volumes: tuple[tuple[str, VolumeSource], ...]
    node_selector: tuple[tuple[str, str], ...]
    # requiredDuringSchedulingIgnoredDuringExecution: any term whose requirements all match.
    node_affinity: tuple[tuple[NodeSelectorRequirement, ...], ...]
    termination_grace_seconds: int

    def volume(self, name: str) -> VolumeSource:
        return dict(self.volumes)[name]


TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"  # where kubelet would mount a token
HOST_PATH_TYPES = (
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
)
_NOT_IMPLEMENTED = "not implemented by the sandbox kubelet"
# The downward-API fields kubelet fills in that the sandbox knows (hostNetwork: podIP = hostIP).
FIELD_PATHS = (
    "status.hostIP",
    "status.podIP",
    "spec.nodeName",
    "metadata.name",
    "metadata.namespace",
)


class _Fields:
    """One mapping of the object: keys are taken as they are read; leftovers are refused."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise PodSpecError(f"{path}: want a mapping, got {value!r}")
        self.value: Mapping[str, Any] = value
        self.path = path
        self._taken: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str, default: Any = None) -> Any:
        self._taken.add(key)
        return self.value.get(key, default)

    def require(self, key: str) -> Any:
        if key not in self.value:
            raise PodSpecError(f"{self.at(key)}: missing")
        return self.get(key)

    def ignore(self, *keys: str) -> None:
        """Keys that do not apply to a one-node sandbox (each caller says why)."""
        self._taken.update(keys)

    def fields(self, key: str) -> "_Fields":
        return _Fields(self.get(key) or {}, self.at(key))

    def done(self) -> None:
        for key in self.value:
            if key not in self._taken:
                raise PodSpecError(f"{self.at(key)}: {_NOT_IMPLEMENTED}")


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise PodSpecError(f"{path}: want a string, got {value!r}")
    return value


def _integer(value: object, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PodSpecError(f"{path}: want an integer >= {minimum}, got {value!r}")
    return value


def _boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise PodSpecError(f"{path}: want true or false, got {value!r}")
    return value


def _strings(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise PodSpecError(f"{path}: want a list of strings, got {value!r}")
    return tuple(_string(v, f"{path}[{i}]") for i, v in enumerate(value))


def _list(value: object, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PodSpecError(f"{path}: want a list, got {value!r}")
    return value


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def parse_quantity(value: object, path: str) -> float:
    """A Kubernetes resource quantity (`100m`, `96Mi`, `2`) as a number."""
    match = _QUANTITY.match(str(value))
    if match is None or isinstance(value, bool):
        raise PodSpecError(f"{path}: not a resource quantity: {value!r}")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def _seccomp(fields: _Fields, path: str) -> str | None:
    context = fields.get("seccompProfile")
    if context is None:
        return None
    profile = _Fields(context, path)
    kind = _string(profile.require("type"), profile.at("type"))
    if kind not in ("RuntimeDefault", "Unconfined"):
        raise PodSpecError(f"{profile.at('type')}: {kind!r} {_NOT_IMPLEMENTED}")
    profile.done()
    return kind


def _probe(value: object, path: str, ports: Mapping[str, int]) -> HttpGetProbe:
    probe = _Fields(value, path)
    if "httpGet" not in probe.value:
        raise PodSpecError(f"{path}: only httpGet probes are implemented")
    http = probe.fields("httpGet")
    port_value = http.require("port")
    if isinstance(port_value, str) and not port_value.isdigit():
        if port_value not in ports:
            raise PodSpecError(f"{http.at('port')}: no container port named {port_value!r}")
        port = ports[port_value]
    else:
        port = _integer(int(port_value), http.at("port"), minimum=1)
    scheme = http.get("scheme", "HTTP")
    if scheme != "HTTP":
        raise PodSpecError(f"{http.at('scheme')}: {scheme!r} {_NOT_IMPLEMENTED}")
    host = http.get("host")
    parsed = HttpGetProbe(
        path=_string(http.get("path", "/"), http.at("path")),
        port=port,
        host=None if host is None else _string(host, http.at("host")),
        period_seconds=_integer(
            probe.get("periodSeconds", 10), probe.at("periodSeconds"), minimum=1
        ),
        timeout_seconds=_integer(
            probe.get("timeoutSeconds", 1), probe.at("timeoutSeconds"), minimum=1
        ),
        failure_threshold=_integer(
            probe.get("failureThreshold", 3), probe.at("failureThreshold"), minimum=1
        ),
        success_threshold=_integer(
            probe.get("successThreshold", 1), probe.at("successThreshold"), minimum=1
        ),
        initial_delay_seconds=_integer(
            probe.get("initialDelaySeconds", 0), probe.at("initialDelaySeconds")
        ),
    )
    http.done()
    probe.done()
    return parsed


def _ports(value: object, path: str) -> tuple[tuple[str, int], ...]:
    named: list[tuple[str, int]] = []
    for index, item in enumerate(_list(value, path)):
        port = _Fields(item, f"{path}[{index}]")
        number = _integer(port.require("containerPort"), port.at("containerPort"), minimum=1)
        protocol = port.get("protocol", "TCP")
        if protocol not in ("TCP", "UDP", "SCTP"):
            raise PodSpecError(f"{port.at('protocol')}: unknown protocol {protocol!r}")
        host_port = port.get("hostPort")
        # hostNetwork: the container's port is the node's port; a different hostPort cannot be.
        if host_port is not None and host_port != number:
            raise PodSpecError(f"{port.at('hostPort')}: must equal containerPort with hostNetwork")
        name = port.get("name")
        if name is not None:
            named.append((_string(name, port.at("name")), number))
        port.done()
    return tuple(named)


def _resources(value: object, path: str) -> tuple[float | None, int | None]:
    resources = _Fields(value or {}, path)
    # Requests only place the pod on a node (the scheduler's); they are still checked as quantities.
    requests = resources.fields("requests")
    for key in ("cpu", "memory"):
        if requests.get(key) is not None:
            parse_quantity(requests.value[key], requests.at(key))
    requests.done()
    limits = resources.fields("limits")
    cpu = limits.get("cpu")
    memory = limits.get("memory")
    limits.done()
    resources.done()
    return (
        None if cpu is None else parse_quantity(cpu, limits.at("cpu")),
        None if memory is None else int(parse_quantity(memory, limits.at("memory"))),
    )


def _env(value: object, path: str) -> tuple[tuple[str, EnvValue], ...]:
    env: list[tuple[str, EnvValue]] = []
    for index, item in enumerate(_list(value, path)):
        var = _Fields(item, f"{path}[{index}]")
        name = _string(var.require("name"), var.at("name"))
        if "valueFrom" in var.value:
            source = var.fields("valueFrom")
            ref = source.fields("fieldRef")
            if "fieldRef" not in source.value:
                source.done()  # names the source (secretKeyRef, configMapKeyRef, ...) refused
            field_path = _string(ref.require("fieldPath"), ref.at("fieldPath"))
            if field_path not in FIELD_PATHS:
                raise PodSpecError(f"{ref.at('fieldPath')}: {field_path!r} {_NOT_IMPLEMENTED}")
            ref.ignore("apiVersion")  # always v1 for these paths
            ref.done()
            source.done()
            env.append((name, FieldRef(field_path)))
        else:
            env.append((name, _string(var.get("value", ""), var.at("value"))))
        var.done()
    return tuple(env)


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """kubelet's `$(VAR)` expansion in command, args and env values.

    A defined name is replaced; an undefined reference stays as written; `$$` is one `$`.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def resolve_env(container: ContainerSpec, fields: Mapping[str, str]) -> dict[str, str]:
    """The container's environment: field refs filled from `fields`, earlier names expanded."""
    resolved: dict[str, str] = {}
    for name, value in container.env:
        if isinstance(value, FieldRef):
            resolved[name] = fields[value.field_path]
        else:
            resolved[name] = expand_references(value, resolved)
    return resolved


def _container(value: object, path: str, pod_seccomp: str | None) -> ContainerSpec:
    container = _Fields(value, path)
    name = _string(container.require("name"), container.at("name"))
    env = _env(container.get("env"), container.at("env"))
    ports = _ports(container.get("ports"), container.at("ports"))
    command = container.get("command")
    args = container.get("args")
    security = container.fields("securityContext")
    capabilities = security.fields("capabilities")
    cap_add = _strings(capabilities.get("add") or [], capabilities.at("add"))
    cap_drop = _strings(capabilities.get("drop") or [], capabilities.at("drop"))
    capabilities.done()
    escalation = security.get("allowPrivilegeEscalation")
    run_as_user = security.get("runAsUser")
    seccomp = _seccomp(security, security.at("seccompProfile")) or pod_seccomp
    read_only_root = security.get("readOnlyRootFilesystem", False)
    privileged = security.get("privileged", False)
    security.done()
    mounts = []
    mounts_path = container.at("volumeMounts")
    for index, item in enumerate(_list(container.get("volumeMounts"), mounts_path)):
        mount = _Fields(item, f"{mounts_path}[{index}]")
        mounts.append(
            VolumeMount(
                volume=_string(mount.require("name"), mount.at("name")),
                mount_path=_string(mount.require("mountPath"), mount.at("mountPath")),
                read_only=_boolean(mount.get("readOnly", False), mount.at("readOnly")),
            )
        )
        mount.done()
    cpu, memory = _resources(container.get("resources"), container.at("resources"))
    named = dict(ports)
    liveness = container.get("livenessProbe")
    readiness = container.get("readinessProbe")
    startup = container.get("startupProbe")
    spec = ContainerSpec(
        name=name,
        image=_string(container.require("image"), container.at("image")),
        env=env,
        command=None if command is None else _strings(command, container.at("command")),
        args=None if args is None else _strings(args, container.at("args")),
        cap_add=cap_add,
        cap_drop=cap_drop,
        read_only_root=_boolean(read_only_root, security.at("readOnlyRootFilesystem")),
        no_new_privileges=escalation is False,
        privileged=_boolean(privileged, security.at("privileged")),
        run_as_user=None
        if run_as_user is None
        else _integer(run_as_user, security.at("runAsUser")),
        seccomp=seccomp or "Unconfined",  # kubelet's default without a profile
        mounts=tuple(mounts),
        ports=ports,
        cpu_limit=cpu,
        memory_limit_bytes=memory,
        liveness=None
        if liveness is None
        else _probe(liveness, container.at("livenessProbe"), named),
        readiness=None
        if readiness is None
        else _probe(readiness, container.at("readinessProbe"), named),
        startup=None if startup is None else _probe(startup, container.at("startupProbe"), named),
    )
    container.done()
    return spec


def _volume(value: object, path: str) -> tuple[str, VolumeSource]:
    volume = _Fields(value, path)
    name = _string(volume.require("name"), volume.at("name"))
    kinds = [k for k in volume.value if k != "name"]
    if len(kinds) != 1:
        raise PodSpecError(f"{path}: want exactly one volume source, got {kinds}")
    kind = kinds[0]
    source = volume.fields(kind)
    parsed: VolumeSource
    if kind == "configMap":
        items = None
        if "items" in source.value:
            items = []
            for index, item in enumerate(_list(source.get("items"), source.at("items"))):
                entry = _Fields(item, f"{source.at('items')}[{index}]")
                key = _string(entry.require("key"), entry.at("key"))
                items.append((key, _string(entry.require("path"), entry.at("path"))))
                entry.done()
        parsed = ConfigMapSource(
            name=_string(source.require("name"), source.at("name")),
            items=None if items is None else tuple(items),
            optional=_boolean(source.get("optional", False), source.at("optional")),
        )
    elif kind == "hostPath":
        host_type = _string(source.get("type", ""), source.at("type"))
        if host_type not in HOST_PATH_TYPES:
            raise PodSpecError(f"{source.at('type')}: unknown hostPath type {host_type!r}")
        parsed = HostPathSource(_string(source.require("path"), source.at("path")), host_type)
    elif kind == "emptyDir":
        medium = _string(source.get("medium", ""), source.at("medium"))
        if medium not in ("", "Memory"):
            raise PodSpecError(f"{source.at('medium')}: unknown emptyDir medium {medium!r}")
        limit = source.get("sizeLimit")
        parsed = EmptyDirSource(
            medium,
            None if limit is None else int(parse_quantity(limit, source.at("sizeLimit"))),
        )
    else:
        raise PodSpecError(f"{volume.at(kind)}: {_NOT_IMPLEMENTED}")
    source.done()
    volume.done()
    return name, parsed


def _required_node_affinity(
    pod: _Fields,
) -> tuple[tuple[NodeSelectorRequirement, ...], ...]:
    affinity = pod.fields("affinity")
    node = affinity.fields("nodeAffinity")
    # Preferences only rank nodes for the scheduler; a sandbox node takes the pod or refuses it.
    node.ignore("preferredDuringSchedulingIgnoredDuringExecution")
    required = node.fields("requiredDuringSchedulingIgnoredDuringExecution")
    terms = []
    listed = _list(required.get("nodeSelectorTerms"), required.at("nodeSelectorTerms"))
    for index, item in enumerate(listed):
        term = _Fields(item, f"{required.at('nodeSelectorTerms')}[{index}]")
        requirements = []
        expressions = _list(term.get("matchExpressions"), term.at("matchExpressions"))
        for position, raw in enumerate(expressions):
            expression = _Fields(raw, f"{term.at('matchExpressions')}[{position}]")
            operator = _string(expression.require("operator"), expression.at("operator"))
            if operator not in ("In", "NotIn"):
                raise PodSpecError(f"{expression.at('operator')}: {operator!r} {_NOT_IMPLEMENTED}")
            requirements.append(
                NodeSelectorRequirement(
                    _string(expression.require("key"), expression.at("key")),
                    operator,
                    _strings(expression.require("values"), expression.at("values")),
                )
            )
            expression.done()
        term.done()
        terms.append(tuple(requirements))
    required.done()
    node.done()
    affinity.done()
    return tuple(terms)


def parse_daemon_set(obj: Mapping[str, Any]) -> PodSpec:
    """The pod a rendered DaemonSet asks every node to run, or `PodSpecError` naming the field."""
    top = _Fields(obj, "DaemonSet")
    if top.get("kind") != "DaemonSet" or top.get("apiVersion") != "apps/v1":
        raise PodSpecError("DaemonSet: want kind DaemonSet, apiVersion apps/v1")
    metadata = top.fields("metadata")
    name = _string(metadata.require("name"), metadata.at("name"))
    namespace = _string(metadata.get("namespace", "default"), metadata.at("namespace"))
    # How the DaemonSet is labelled and annotated is the API server's business, not the node's.
    metadata.ignore("labels", "annotations")
    metadata.done()
    spec = top.fields("spec")
    # Rollout is the DaemonSet controller's: a sandbox node runs one pod once.
    spec.ignore("updateStrategy", "minReadySeconds", "revisionHistoryLimit")
    template = spec.fields("template")
    template_meta = template.fields("metadata")
    labels = template_meta.get("labels") or {}
    template_meta.done()
    selector = spec.fields("selector")
    match_labels = selector.get("matchLabels") or {}
    selector.done()
    # The API server refuses a DaemonSet whose selector does not select its own template.
    for key, value in match_labels.items():
        if labels.get(key) != value:
            raise PodSpecError(f"{selector.at('matchLabels')}.{key}: template labels do not match")
    pod = template.fields("spec")
    pod_security = pod.fields("securityContext")
    pod_seccomp = _seccomp(pod_security, pod_security.at("seccompProfile"))
    pod_security.done()
    if pod.get("hostNetwork") is not True:
        raise PodSpecError(
            f"{pod.at('hostNetwork')}: only hostNetwork: true pods are implemented "
            "(the sandbox kubelet joins the node's network namespace; it builds no pod network)"
        )
    if pod.get("automountServiceAccountToken") is not False:
        raise PodSpecError(
            f"{pod.at('automountServiceAccountToken')}: must be false "
            f"(the sandbox has no API server to issue a token for {TOKEN_PATH})"
        )
    # Which node a pod lands on, its priority and the taints it tolerates are the scheduler's;
    # the kubelet's share, the node selector and required node affinity, is checked at
    # admission by the kubelet.
    pod.ignore("tolerations", "priorityClassName")
    selector_labels = pod.get("nodeSelector") or {}
    node_affinity = _required_node_affinity(pod)
    grace = _integer(
        pod.get("terminationGracePeriodSeconds", 30), pod.at("terminationGracePeriodSeconds")
    )
    containers = tuple(
        _container(item, f"{pod.at('containers')}[{index}]", pod_seccomp)
        for index, item in enumerate(_list(pod.require("containers"), pod.at("containers")))
    )
    volumes = tuple(
        _volume(item, f"{pod.at('volumes')}[{index}]")
        for index, item in enumerate(_list(pod.get("volumes"), pod.at("volumes")))
    )
    pod.done()
    template.done()
    spec.done()
    top.done()
    names = {n for n, _ in volumes}
    for index, container in enumerate(containers):
        for mount in container.mounts:
            if mount.volume not in names:
                raise PodSpecError(
                    f"{pod.at('containers')}[{index}].volumeMounts: no volume {mount.volume!r}"
                )
    if not containers:
        raise PodSpecError(f"{pod.at('containers')}: no container")
    return PodSpec(
        name=name,
        namespace=namespace,
        containers=containers,
        volumes=volumes,
        node_selector=tuple(sorted((str(k), str(v)) for k, v in selector_labels.items())),
        node_affinity=node_affinity,
        termination_grace_seconds=grace,
    )
