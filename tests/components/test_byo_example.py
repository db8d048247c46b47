"""examples/byo-gke/ against the package as a user installs it: `pip install "<repo>[gcp]"` into
a fresh venv, then the example (and an AgentImage with its defaults) run under mocks from
outside the checkout."""

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import netaddr
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "byo-gke"
# The example's own ranges, as its program states them: subnet, secondary, control plane, VPN.
EXAMPLE_RANGES = [
    "10.30.0.0/22",
    "10.32.0.0/14",
    "10.30.16.0/20",
    "172.16.4.0/28",
    "192.168.50.0/24",
]
IMAGE = "registry.example/ip-masq-agent@sha256:" + "2" * 64

# Runs inside the fresh venv: every scenario in one process (one import of pulumi_gcp). The
# checkout's root goes last on sys.path only for the offline harness (harness/ is not shipped);
# the package cannot come from there (it is under src/), and the test checks where it came from.
DRIVER = """
import json, runpy, sys
sys.path.append(sys.argv[1])
import pulumi, pulumi_ip_masq_agent
from harness.offline import run_under_mocks
example, scenarios = sys.argv[2], json.loads(sys.argv[3])

def output_for_deploy():
    pulumi_ip_masq_agent.IpMasqAgent("agent", {
        "ranges": [{"cidr": "10.0.0.0/8", "label": "pods"}],
        "deploy_daemon_set": pulumi.Output.from_input(True), "image": "x"})

def agent_image_defaults():
    pulumi_ip_masq_agent.AgentImage("image", {"location": "europe-west1"})

replies = {"package": pulumi_ip_masq_agent.__file__}
programs = {"output-deploy": output_for_deploy, "agent-image": agent_image_defaults}
for name, config in scenarios.items():
    program = programs.get(name, lambda: runpy.run_path(example, run_name="__main__"))
    try:
        result = run_under_mocks(program, stack="test", config=config, project="byo-gke")
    except Exception as err:
        replies[name] = {"error": type(err).__name__, "message": str(err)}
        continue
    replies[name] = {
        "outputs": result.outputs,
        "types": [r.type for r in result.resources],
        "configmaps": [r.inputs for r in result.of_type("kubernetes:core/v1:ConfigMap")],
        "builds": [r.inputs for r in result.of_type("docker-build:index:Image")],
    }
print(json.dumps(replies))
"""
SCENARIOS = {
    "daemon-set": {"image": IMAGE},
    "dataplane-v2": {"dataplane": "v2"},
    "configmap-only": {"deployDaemonSet": "false"},
    "output-deploy": {},
    "agent-image": {"gcp:project": "p"},
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the package installed from the repository path, as a user does."""
    root = tmp_path_factory.mktemp("byo-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))
    # Offline and fast: the pinned dependencies are the suite's own (a path, not its .pth
    # files: the suite's editable install of this package is not visible there). pip resolves
    # the package's declared dependencies against them and builds it with the pinned setuptools.
    (site / "suite_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    build = tmp_path_factory.mktemp("byo-build")
    done = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install",
            "--no-index", "--no-build-isolation", "--disable-pip-version-check", "-q",
            f"{ROOT}[gcp]",
        ],
        cwd=build, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def replies(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every scenario's result, run by the venv's python from a directory outside the repo."""
    where = tmp_path_factory.mktemp("byo-run")
    driver = where / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    scenarios = {
        name: {key if ":" in key else f"byo-gke:{key}": value for key, value in config.items()}
        for name, config in SCENARIOS.items()
    }
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-I", str(driver), str(ROOT),
         str(EXAMPLE / "__main__.py"), json.dumps(scenarios)],
        cwd=where, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_the_installed_package_is_used_not_the_checkout(
    venv: Path, replies: dict[str, Any]
) -> None:
    assert Path(replies["package"]).is_relative_to(venv), replies["package"]


def test_configmap_is_the_merged_union_of_the_example_ranges(replies: dict[str, Any]) -> None:
    reply = replies["daemon-set"]
    (configmap,) = reply["configmaps"]
    document = yaml.safe_load(configmap["data"]["config"])
    expected = [str(c) for c in netaddr.cidr_merge(EXAMPLE_RANGES)]
    assert document["nonMasqueradeCIDRs"] == expected == reply["outputs"]["nonMasqueradeCidrs"]
    assert netaddr.IPSet(document["nonMasqueradeCIDRs"]) == netaddr.IPSet(EXAMPLE_RANGES)
    assert "kubernetes:apps/v1:DaemonSet" in reply["types"]


@pytest.mark.parametrize("scenario", ["dataplane-v2", "configmap-only"])
def test_no_daemon_set(replies: dict[str, Any], scenario: str) -> None:
    reply = replies[scenario]
    assert "kubernetes:apps/v1:DaemonSet" not in reply["types"]
    assert reply["types"].count("kubernetes:core/v1:ConfigMap") == 1
    assert reply["outputs"]["daemonSetName"] is None


def test_an_output_for_deploy_daemon_set_is_a_type_error(replies: dict[str, Any]) -> None:
    reply = replies["output-deploy"]
    assert reply["error"] == "TypeError"
    assert "deploy_daemon_set must be a plain bool" in reply["message"]


def test_agent_image_builds_the_context_shipped_inside_the_package(
    venv: Path, replies: dict[str, Any]
) -> None:
    (build,) = replies["agent-image"]["builds"]
    context = Path(build["context"]["location"])
    package = Path(replies["package"]).parent
    assert context == package / "agent_context" and context.is_relative_to(venv)
    assert not context.is_symlink() and context.is_dir()  # a real copy, not a link to the repo
    assert Path(build["dockerfile"]["location"]) == context / "Dockerfile"
    assert build["platforms"] == ["linux/amd64", "linux/arm64"]
    assert (context / "Dockerfile").read_bytes() == (ROOT / "agent_image/Dockerfile").read_bytes()
    assert (context / ".dockerignore").is_file()
    # Every module of the agent, as in the repo, where the Dockerfile's COPY expects it.
    shipped = {p.relative_to(context) for p in context.glob("src/ip_masq_agent/**/*.py")}
    in_repo = {p.relative_to(ROOT / "agent_image") for p in ROOT.glob("agent_image/src/**/*.py")}
    assert shipped == in_repo and len(shipped) >= 20
    for line in (context / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            assert (context / line.split()[1]).exists(), line
