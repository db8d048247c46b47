"""agent-image-pinned over hand-built DaemonSets."""

from typing import Any

import pytest

from pulumi_ip_masq_agent.policy.image_pinned import validate_image_pinned
from pulumi_ip_masq_agent.policy.preview_unknowns import CannotCheckUntilDeployedError
from tests.policies.objects import DAEMONSET, DIGEST, daemonset, unrelated_daemonset
from tests.policies.policy_args import UNKNOWN, run_resource


def with_image(image: str) -> dict[str, Any]:
    props = daemonset()
    props["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return props


def check(props: dict[str, Any], **config: Any) -> list[str]:
    return run_resource(validate_image_pinned, DAEMONSET, props, name="ds", config=config)


def test_digest_pinned_image_passes() -> None:
    assert check(daemonset()) == []


@pytest.mark.parametrize(
    "image",
    [
        pytest.param("registry.k8s.io/networking/ip-masq-agent:v2.12.0", id="tag"),
        pytest.param("ip-masq-agent", id="bare"),
        pytest.param("ip-masq-agent@sha256:abc", id="short-digest"),
    ],
)
def test_unpinned_image_is_named(image: str) -> None:
    [violation] = check(with_image(image))
    assert "DaemonSet kube-system/ip-masq-agent (ds)" in violation
    assert f"image {image!r} is not pinned by digest" in violation


def test_allowed_registries_are_configurable() -> None:
    image = f"docker.io/someone/ip-masq-agent@{DIGEST}"
    assert check(with_image(image)) == []
    [violation] = check(with_image(image), allowedRegistries=["europe-docker.pkg.dev/p/"])
    assert "not from an allowed registry" in violation


def test_other_daemonsets_are_ignored() -> None:
    assert check(unrelated_daemonset()) == []


def test_image_built_in_the_same_update_cannot_be_checked() -> None:
    with pytest.raises(CannotCheckUntilDeployedError, match=r"containers\.0\.image"):
        check(with_image(UNKNOWN))
