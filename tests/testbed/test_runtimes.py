"""The sandbox's agent runtimes: which spec images mean the built agent image."""

import pytest

from testbed.kubelet.pod_spec import PodSpecError
from testbed.runtimes import map_image

BUILT = "sha256:0123"


@pytest.mark.parametrize(
    "image",
    [
        "localhost/ip-masq-agent:dev",
        "<unknown until deployed: spec.template.spec.containers[0].image>",
        "europe-west1-docker.pkg.dev/p/r/ip-masq-agent@sha256:abcd",
        "ip-masq-agent",
    ],
)
def test_the_agents_image_or_a_placeholder_maps_to_the_built_one(image: str) -> None:
    assert map_image(image, BUILT) == BUILT


def test_another_image_is_refused_by_name() -> None:
    with pytest.raises(PodSpecError, match=r"'registry\.k8s\.io/pause:3\.9'.*no registry"):
        map_image("registry.k8s.io/pause:3.9", BUILT)
