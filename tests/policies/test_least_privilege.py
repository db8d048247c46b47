"""ip-masq-agent-least-privilege over hand-built DaemonSets, broken one field at a time."""

from collections.abc import Callable
from typing import Any

import pytest

from pulumi_ip_masq_agent.policy.least_privilege import validate_least_privilege
from pulumi_ip_masq_agent.policy.preview_unknowns import CannotCheckUntilDeployedError
from tests.policies.objects import DAEMONSET, daemonset, unrelated_daemonset
from tests.policies.policy_args import UNKNOWN, run_resource

Mutation = Callable[[dict[str, Any], dict[str, Any]], None]


def check(props: dict[str, Any]) -> list[str]:
    return run_resource(validate_least_privilege, DAEMONSET, props, name="ds")


def mutated(mutate: Mutation) -> dict[str, Any]:
    props = daemonset()
    pod = props["spec"]["template"]["spec"]
    mutate(pod, pod["containers"][0])
    return props


def test_compliant_daemonset_passes() -> None:
    assert check(daemonset()) == []


MUTATIONS: list[Any] = [
    pytest.param(
        lambda pod, c: c["securityContext"].update(privileged=True),
        "container ip-masq-agent: securityContext.privileged is true",
        id="privileged",
    ),
    pytest.param(
        lambda pod, c: c["securityContext"]["capabilities"]["add"].append("SYS_ADMIN"),
        "capabilities.add has SYS_ADMIN",
        id="sys-admin",
    ),
    pytest.param(
        lambda pod, c: c["securityContext"]["capabilities"]["add"].append("CAP_SYS_PTRACE"),
        "capabilities.add has SYS_PTRACE",
        id="cap-prefixed",
    ),
    pytest.param(
        lambda pod, c: pod["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
        "volume root mounts hostPath '/'",
        id="hostpath-root",
    ),
    pytest.param(
        lambda pod, c: c["securityContext"].pop("readOnlyRootFilesystem"),
        "readOnlyRootFilesystem must be true",
        id="writable-root",
    ),
    pytest.param(
        lambda pod, c: c["securityContext"].update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation must be false",
        id="privilege-escalation",
    ),
    pytest.param(
        lambda pod, c: pod.pop("automountServiceAccountToken"),
        "automountServiceAccountToken must be false",
        id="sa-token-automount",
    ),
    pytest.param(
        lambda pod, c: pod["volumes"].append(
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
        ),
        "volume token projects a service-account token",
        id="sa-token-projected",
    ),
    pytest.param(
        lambda pod, c: c.pop("resources"),
        "resources requests.cpu, requests.memory, limits.memory not set",
        id="no-resources",
    ),
    pytest.param(
        lambda pod, c: pod.update(
            tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"}]
        ),
        "tolerations do not reach every node",
        id="narrow-tolerations",
    ),
    pytest.param(
        lambda pod, c: pod.update(tolerations=[{"operator": "Exists", "effect": "NoSchedule"}]),
        "effect: NoExecute",
        id="no-execute-not-tolerated",
    ),
    pytest.param(
        lambda pod, c: pod.update(priorityClassName="system-cluster-critical"),
        "priorityClassName is 'system-cluster-critical'",
        id="priority-class",
    ),
    pytest.param(lambda pod, c: pod.update(hostPID=True), "hostPID is true", id="host-pid"),
    pytest.param(
        lambda pod, c: c["args"].append("--health-address=0.0.0.0:10261"),
        "--health-address on 0.0.0.0 serves /healthz and /readyz on the node's addresses",
        id="health-on-every-address",
    ),
    pytest.param(
        lambda pod, c: c["args"].append("--health-address=:10261"),
        "--health-address on every address serves",
        id="health-port-only",
    ),
    pytest.param(
        lambda pod, c: c.update(livenessProbe={"httpGet": {"path": "/healthz", "port": 10261}}),
        "livenessProbe.httpGet has no host: 127.0.0.1",
        id="probe-without-host",
    ),
]


def test_health_on_loopback_probed_there_or_turned_off_passes() -> None:
    probe = {"httpGet": {"host": "127.0.0.1", "path": "/healthz", "port": 10261}}

    def loopback(pod: dict[str, Any], c: dict[str, Any]) -> None:
        c["args"].append("--health-address=127.0.0.1:10261")
        c.update(livenessProbe=probe, readinessProbe=probe)

    assert check(mutated(loopback)) == []
    assert check(mutated(lambda pod, c: c["args"].append("--health-address="))) == []


@pytest.mark.parametrize(("mutate", "expected"), MUTATIONS)
def test_each_mutation_is_caught_and_named(mutate: Mutation, expected: str) -> None:
    violations = check(mutated(mutate))
    assert len(violations) == 1, violations
    assert violations[0].startswith("DaemonSet kube-system/ip-masq-agent (ds)")
    assert expected in violations[0]


def test_split_tolerations_per_effect_reach_every_node() -> None:
    tolerations = [{"operator": "Exists", "effect": e} for e in ("NoSchedule", "NoExecute")]
    assert check(mutated(lambda pod, c: pod.update(tolerations=tolerations))) == []


def test_init_containers_are_checked_too() -> None:
    def add_init(pod: dict[str, Any], container: dict[str, Any]) -> None:
        pod["initContainers"] = [{**container, "name": "init", "securityContext": {}}]

    violations = check(mutated(add_init))
    assert any("container init: securityContext.readOnlyRootFilesystem" in v for v in violations)


def test_other_daemonsets_are_ignored() -> None:
    assert check(unrelated_daemonset()) == []


def test_unknown_field_is_advisory_after_known_checks_ran() -> None:
    def unknown_and_privileged(pod: dict[str, Any], container: dict[str, Any]) -> None:
        pod["priorityClassName"] = UNKNOWN
        container["securityContext"]["privileged"] = True

    violations: list[str] = []
    with pytest.raises(CannotCheckUntilDeployedError) as caught:
        run_resource(
            validate_least_privilege,
            DAEMONSET,
            mutated(unknown_and_privileged),
            name="ds",
            violations=violations,
        )
    assert "cannot check until deployed: DaemonSet kube-system/ip-masq-agent (ds)" in str(
        caught.value
    )
    assert "spec.template.spec.priorityClassName" in str(caught.value)
    # The known violation is still reported: an unknown field never hides the rest.
    assert [v for v in violations if "privileged is true" in v]
