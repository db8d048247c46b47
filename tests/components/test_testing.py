"""pulumi_ip_masq_agent.testing on a platform team's own program: a project directory in
tmp_path (with a module of its own), rendered under mocks and checked by the pack."""

import textwrap
from pathlib import Path

import pulumi
import pytest

from pulumi_ip_masq_agent import IpMasqAgent, Range
from pulumi_ip_masq_agent.testing import (
    EnforcementLevel,
    RenderError,
    check_program,
    render_program,
)

PINNED = "registry.example/ip-masq-agent@sha256:" + "1" * 64

PROJECT = """
name: acme-platform
runtime: python
config:
  image:
    type: string
    default: registry.example/ip-masq-agent:1
"""
# The program's own module: importable as under the language host.
RANGES = """
from pulumi_ip_masq_agent import Range

RANGES = [Range(cidr="10.0.0.0/20", label="nodes"), Range(cidr="10.4.0.0/14", label="pods")]
"""
PROGRAM = """
import pulumi
import pulumi_kubernetes as k8s
from pulumi_ip_masq_agent import IpMasqAgent
from acme_ranges import RANGES

config = pulumi.Config()
agent = IpMasqAgent("ip-masq-agent", {"ranges": RANGES, "image": config.require("image")})
if config.get_bool("strayConfigMap"):
    k8s.core.v1.ConfigMap(
        "stray",
        metadata={"name": "ip-masq-agent", "namespace": "kube-system"},
        data={"config": "nonMasqueradeCIDRs: [bogus]\\n"},
    )
pulumi.export("cidrs", agent.non_masquerade_cidrs)
"""


@pytest.fixture
def program(tmp_path: Path) -> Path:
    for name, text in (
        ("Pulumi.yaml", PROJECT),
        ("acme_ranges.py", RANGES),
        ("__main__.py", PROGRAM),
        ("Pulumi.prod.yaml", f"config:\n  acme-platform:image: {PINNED}\n"),
    ):
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    return tmp_path


def test_a_program_directory_renders_with_its_defaults_and_own_modules(program: Path) -> None:
    result = render_program(program)
    assert (result.stack, result.project) == ("test", "acme-platform")
    assert result.outputs == {"cidrs": ["10.0.0.0/20", "10.4.0.0/14"]}
    [daemon_set] = result.of_type("kubernetes:apps/v1:DaemonSet")
    [container] = daemon_set.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/ip-masq-agent:1"
    assert [r.inputs["kind"] for r in result.kubernetes_objects()] == ["ConfigMap", "DaemonSet"]


def test_the_stack_file_then_config_override_the_defaults(program: Path) -> None:
    [prod] = render_program(program, stack="prod").of_type("kubernetes:apps/v1:DaemonSet")
    assert prod.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == PINNED
    given = render_program(program, stack="prod", config={"acme-platform:image": "x@sha256:1"})
    [daemon_set] = given.of_type("kubernetes:apps/v1:DaemonSet")
    assert daemon_set.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == "x@sha256:1"


def test_findings_come_from_the_pack_with_their_levels(program: Path) -> None:
    clean = check_program(program, stack="prod")
    assert clean.findings == () and clean.mandatory == ()
    assert clean.summary() == "no findings"

    advisory = check_program(program)
    assert [(f.policy, f.enforcement) for f in advisory.findings] == [
        ("agent-image-pinned", EnforcementLevel.ADVISORY)
    ]
    assert advisory.findings[0].resource.startswith("urn:pulumi:test::acme-platform::")

    broken = check_program(program, stack="prod", config={"strayConfigMap": True})
    assert {f.policy for f in broken.mandatory} == {
        "ip-masq-config-valid",
        "non-masquerade-covers-pod-ranges",
    }
    assert "'bogus' is not a CIDR" in broken.summary()


def test_policy_config_sets_levels_as_the_pack_config_does(program: Path) -> None:
    report = check_program(program, policy_config={"agent-image-pinned": "disabled"})
    assert report.findings == ()


def test_a_function_is_a_program_too() -> None:
    def program() -> None:
        ranges = [Range(cidr="10.0.0.0/8", label="all")]
        agent = IpMasqAgent("agent", {"ranges": ranges, "image": PINNED})
        pulumi.export("cidrs", agent.non_masquerade_cidrs)
        pulumi.export("flag", pulumi.Config().get_bool("flag"))

    result = render_program(program, config={"flag": True}, project="p")
    assert result.project == "p"
    assert result.outputs == {"cidrs": ["10.0.0.0/8"], "flag": True}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param({}, "no Pulumi.yaml", id="no-project"),
        pytest.param({"Pulumi.yaml": "name: x\n"}, "no such file", id="no-main"),
    ],
)
def test_a_directory_that_is_not_a_program_is_one_line(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(RenderError, match=message) as caught:
        render_program(tmp_path)
    assert "\n" not in str(caught.value)


def test_the_program_error_is_its_own_line(program: Path) -> None:
    (program / "acme_ranges.py").write_text(
        "from pulumi_ip_masq_agent import Range\nRANGES = [Range(cidr='10.0.0.1/8', label='x')]\n"
    )
    with pytest.raises(Exception, match=r"^IpMasqAgent ip-masq-agent: ranges") as caught:
        render_program(program)
    assert "\n" not in str(caught.value)
