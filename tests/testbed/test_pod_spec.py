"""The sandbox kubelet's reading of the rendered DaemonSet: what it runs, and what it refuses."""

import copy
import functools
import re
from typing import Any

import pytest

from testbed.kubelet.pod_spec import (
    ConfigMapSource,
    EmptyDirSource,
    HostPathSource,
    PodSpecError,
    expand_references,
    parse_daemon_set,
    parse_quantity,
    resolve_env,
)
from testbed.sandbox.stack import render_sandbox_stack

STACKS = ("dev", "prod", "local")
POD = "spec.template.spec"
CONTAINER = f"{POD}.containers[0]"


@functools.cache
def daemon_set(stack: str) -> dict[str, Any]:
    return dict(render_sandbox_stack(stack).daemon_set)


def changed(path: str, value: object, stack: str = "local") -> dict[str, Any]:
    """The rendered DaemonSet with one key set (dotted path; `[i]` indexes a list)."""
    obj = copy.deepcopy(daemon_set(stack))
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        name, _, index = part.partition("[")
        node = node[name] if not index else node[name][int(index.rstrip("]"))]
    name, _, index = last.partition("[")
    if index:
        node[name][int(index.rstrip("]"))] = value
    else:
        node[name] = value
    return obj


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_daemon_set_is_run_as_rendered(stack: str) -> None:
    pod = parse_daemon_set(daemon_set(stack))
    rendered = daemon_set(stack)["spec"]["template"]["spec"]["containers"][0]
    (container,) = pod.containers
    assert container.image == rendered["image"]
    assert container.args == tuple(rendered["args"])
    assert container.command is None
    assert container.cap_drop == ("ALL",) and container.cap_add == ("NET_ADMIN", "NET_RAW")
    assert container.read_only_root and container.no_new_privileges and not container.privileged
    assert container.run_as_user == 0 and container.seccomp == "RuntimeDefault"
    assert container.cpu_limit == pytest.approx(1.0)
    assert container.memory_limit_bytes == 160 * 2**20  # the DaemonSet's default
    assert container.liveness is not None and container.readiness is not None
    assert container.liveness.path == "/healthz" and container.readiness.path == "/readyz"
    assert (container.liveness.period_seconds, container.liveness.failure_threshold) == (10, 3)
    # The startup probe the sandbox kubelet gates the other two on.
    assert container.startup is not None and container.startup.path == "/healthz"
    assert (container.startup.initial_delay_seconds, container.startup.period_seconds) == (2, 1)
    volumes = dict(pod.volumes)
    assert volumes["config"] == ConfigMapSource(
        "ip-masq-agent", (("config", "ip-masq-agent"),), True
    )
    assert volumes["xtables-lock"] == HostPathSource("/run/xtables.lock", "FileOrCreate")
    assert volumes["tmp"] == EmptyDirSource("Memory", None)
    mounts = {m.mount_path: (m.volume, m.read_only) for m in container.mounts}
    assert mounts["/etc/config"] == ("config", True)
    assert pod.node_selector == (("kubernetes.io/os", "linux"),)
    assert pod.termination_grace_seconds == 30  # Kubernetes' default: the render sets none


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        pytest.param(f"{CONTAINER}.lifecycle", {}, "lifecycle", id="lifecycle"),
        pytest.param(
            f"{CONTAINER}.env",
            [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "env[0].valueFrom.secretKeyRef",
            id="env-secret",
        ),
        pytest.param(f"{CONTAINER}.envFrom", [], "envFrom", id="envFrom"),
        pytest.param(f"{POD}.initContainers", [], "initContainers", id="initContainers"),
        pytest.param(f"{POD}.hostPID", True, "hostPID", id="hostPID"),
        pytest.param(f"{POD}.dnsPolicy", "Default", "dnsPolicy", id="dnsPolicy"),
        pytest.param(
            f"{CONTAINER}.securityContext.runAsNonRoot",
            False,
            "securityContext.runAsNonRoot",
            id="runAsNonRoot",
        ),
        pytest.param(f"{CONTAINER}.volumeMounts[0].subPath", "x", "subPath", id="mount-subPath"),
        pytest.param(
            f"{POD}.volumes[0].configMap.defaultMode", 0o400, "defaultMode", id="defaultMode"
        ),
        pytest.param(
            f"{CONTAINER}.livenessProbe.httpGet.httpHeaders",
            [],
            "livenessProbe.httpGet.httpHeaders",
            id="probe-headers",
        ),
        pytest.param(
            f"{CONTAINER}.resources.limits.ephemeral-storage", "1Gi", "ephemeral", id="limits"
        ),
        pytest.param("spec.template.metadata.annotations", {"a": "b"}, "annotations", id="annot"),
    ],
)
def test_a_field_the_kubelet_does_not_implement_is_refused_by_name(
    path: str, value: object, named: str
) -> None:
    with pytest.raises(PodSpecError) as refused:
        parse_daemon_set(changed(path, value))
    message = str(refused.value)
    assert named in message and "not implemented" in message
    assert message.startswith("DaemonSet.")  # the whole path, from the object's root


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        pytest.param(f"{POD}.automountServiceAccountToken", True, "no API server", id="token"),
        pytest.param(f"{POD}.hostNetwork", False, "hostNetwork: true", id="no-host-network"),
        pytest.param(
            f"{CONTAINER}.livenessProbe", {"exec": {"command": ["true"]}}, "httpGet", id="exec"
        ),
        pytest.param(
            f"{POD}.volumes[0]", {"name": "config", "secret": {}}, "volumes[0].secret", id="sec"
        ),
        pytest.param(
            f"{POD}.volumes[1].hostPath.type", "Dir", "unknown hostPath type", id="hp-type"
        ),
        pytest.param(
            f"{CONTAINER}.readinessProbe.httpGet.port", "metrics", "no container port", id="p"
        ),
        pytest.param(
            f"{CONTAINER}.securityContext.seccompProfile",
            {"type": "Localhost", "localhostProfile": "x.json"},
            "Localhost",
            id="seccomp-localhost",
        ),
        pytest.param(
            f"{CONTAINER}.resources.limits.cpu", "a lot", "not a resource quantity", id="q"
        ),
        pytest.param(
            f"{CONTAINER}.volumeMounts[0].name", "nowhere", "no volume 'nowhere'", id="mount"
        ),
        pytest.param(
            f"{CONTAINER}.env",
            [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}}],
            "'status.hostIPs' not implemented",
            id="env-field",
        ),
    ],
)
def test_what_the_sandbox_cannot_honour_is_an_error_saying_why(
    path: str, value: object, says: str
) -> None:
    with pytest.raises(PodSpecError, match=re.escape(says)):
        parse_daemon_set(changed(path, value))


def test_a_named_probe_port_resolves_to_the_container_port() -> None:
    pod = parse_daemon_set(changed(f"{CONTAINER}.livenessProbe.httpGet.port", "health"))
    liveness = pod.containers[0].liveness
    assert liveness is not None and liveness.port == 10261


def test_a_selector_that_misses_the_template_is_refused() -> None:
    selector = {"matchLabels": {"app.kubernetes.io/name": "something-else"}}
    with pytest.raises(PodSpecError, match="template labels do not match"):
        parse_daemon_set(changed("spec.selector", selector))


@pytest.mark.parametrize(
    ("text", "value"),
    [("100m", 0.1), ("2", 2.0), ("96Mi", 96 * 2**20), ("1G", 1e9), ("1.5", 1.5), ("64Ki", 65536)],
)
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text, "x") == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("--metrics-address=$(NODE_IP):10262", "--metrics-address=172.18.0.2:10262"),
        ("$(UNDEFINED)", "$(UNDEFINED)"),  # kubelet leaves an undefined reference as written
        ("$$(NODE_IP)", "$(NODE_IP)"),  # escaped
        ("$(NODE_IP)$(NODE)", "172.18.0.2node0"),
        ("cost: $5", "cost: $5"),
    ],
)
def test_references_expand_as_kubelet_expands_them(text: str, expanded: str) -> None:
    assert expand_references(text, {"NODE_IP": "172.18.0.2", "NODE": "node0"}) == expanded


def test_env_takes_the_pods_fields_and_earlier_names() -> None:
    env = [
        {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "LISTEN", "value": "$(NODE_IP):1"},
    ]
    pod = parse_daemon_set(changed(f"{CONTAINER}.env", env))
    resolved = resolve_env(pod.containers[0], {"status.hostIP": "172.18.0.2"})
    assert resolved == {"NODE_IP": "172.18.0.2", "LISTEN": "172.18.0.2:1"}
