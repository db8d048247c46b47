"""Recognising the agent's ConfigMap and DaemonSet, whoever deployed them."""

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import unknown_checking_proxy

from pulumi_ip_masq_agent.policy.kubernetes_objects import is_agent_configmap, is_agent_daemonset
from tests.policies.objects import CONFIGMAP, DAEMONSET, configmap, unrelated_daemonset
from tests.policies.policy_args import UNKNOWN


def looks_like(change: Callable[[dict[str, Any]], None]) -> bool:
    props = unrelated_daemonset()
    change(props)
    return is_agent_daemonset(DAEMONSET, unknown_checking_proxy(props))


def pod(props: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = props["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p["metadata"].update(name="ip-masq-agent-derived"), id="name"),
        pytest.param(
            lambda p: p["metadata"]["labels"].update({"k8s-app": "ip-masq-agent"}),
            id="upstream-label",
        ),
        pytest.param(
            lambda p: p["spec"]["template"].update(
                metadata={"labels": {"app.kubernetes.io/name": "ip-masq-agent"}}
            ),
            id="pod-label",
        ),
        pytest.param(
            lambda p: pod(p)["volumes"].append(
                {"name": "c", "configMap": {"name": "ip-masq-agent"}}
            ),
            id="mounts-configmap",
        ),
        pytest.param(
            lambda p: pod(p)["containers"][0].update(
                image="registry.k8s.io/networking/ip-masq-agent:v2.12.0"
            ),
            id="upstream-image",
        ),
        pytest.param(
            lambda p: pod(p)["containers"][0].update(image="localhost:5000/ip-masq-agent"),
            id="image-behind-registry-port",
        ),
    ],
)
def test_agent_daemonset_is_recognised_by_any_sign(
    change: Callable[[dict[str, Any]], None],
) -> None:
    assert looks_like(change)


def test_unrelated_daemonset_is_not_the_agent() -> None:
    assert not looks_like(lambda p: None)
    assert not is_agent_daemonset(CONFIGMAP, unrelated_daemonset())


def test_unknown_image_does_not_hide_other_signs() -> None:
    def unknown_image_but_mounts_config(props: dict[str, Any]) -> None:
        pod(props)["containers"][0]["image"] = UNKNOWN
        pod(props)["volumes"].append({"name": "c", "configMap": {"name": "ip-masq-agent"}})

    assert looks_like(unknown_image_but_mounts_config)
    assert not looks_like(lambda p: pod(p)["containers"][0].update(image=UNKNOWN))


def test_configmap_is_matched_by_name_and_namespace_only() -> None:
    assert is_agent_configmap(CONFIGMAP, configmap())
    assert not is_agent_configmap(CONFIGMAP, configmap(namespace="default"))
    assert not is_agent_configmap(DAEMONSET, configmap())
    no_namespace = configmap()
    del no_namespace["metadata"]["namespace"]
    assert not is_agent_configmap(CONFIGMAP, no_namespace)
