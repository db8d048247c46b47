"""Which stacks a pull request previews."""

import pytest

from testbed.harness.changed_stacks import stack_of, touched_stacks

STACKS = ["dev", "prod"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        pytest.param(["Pulumi.dev.yaml"], ["dev"], id="one-stack-file"),
        pytest.param(
            ["Pulumi.dev.yaml", "Pulumi.prod.yaml"], ["dev", "prod"], id="two-stack-files"
        ),
        pytest.param(["Pulumi.local.yaml"], [], id="excluded-stack"),
        pytest.param(["src/pulumi_ip_masq_agent/cidrs.py"], STACKS, id="component"),
        pytest.param(["policies/PulumiPolicy.yaml"], STACKS, id="policy"),
        pytest.param(["Pulumi.yaml"], STACKS, id="project-file"),
        pytest.param(["agent_image/Dockerfile"], STACKS, id="agent"),
        pytest.param(
            ["README.md", "tests/policies/test_x.py", "testbed/bench/x.py"],
            [],
            id="no-deploy-change",
        ),
    ],
)
def test_touched_stacks(changed: list[str], expected: list[str]) -> None:
    assert touched_stacks(changed, STACKS) == expected


def test_stack_of_only_reads_root_stack_files() -> None:
    assert stack_of("Pulumi.dev.yaml") == "dev"
    assert stack_of("tests/policies/stacks/Pulumi.broken.yaml") is None
    assert stack_of("Pulumi.yaml") is None
