"""examples/byo-gke/ against the package as a user installs it: `pip install
"<repo>[gcp,testing,agent]"` into a fresh venv, then the example's own tests
(examples/byo-gke/test_program.py, pulumi_ip_masq_agent.testing only) run by that venv's pytest
on a copy of the example outside the checkout; this test asserts on what they report. The
`ip-masq-agent` console script of the same install is run too."""

import json
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "byo-gke"
# Every check the example's tests make (see test_program.py), each of which must pass.
EXPECTED_TESTS = {
    "test_configmap_is_the_merged_union_of_the_ranges",
    "test_no_daemon_set[gke-dataplane-v2]",
    "test_no_daemon_set[gke-managed-agent]",
    "test_autopilot_is_one_egress_nat_policy_and_nothing_in_kube_system",
    "test_an_output_for_deploy_daemon_set_is_a_type_error",
    "test_agent_image_builds_the_context_shipped_inside_the_package",
    *(
        f"test_a_mistaken_argument_is_one_line_before_anything_is_registered[{mistake}]"
        for mistake in ("schema-spelling", "ranges-a-string", "empty-image", "unknown-backend")
    ),
}
# Where the venv's python finds the package, and whether anything of the checkout is in reach.
WHERE = """
import importlib.util, json, pulumi_ip_masq_agent.testing as testing
print(json.dumps({"testing": testing.__file__,
                  "checkout": [m for m in ("harness", "policies", "sandbox", "tests")
                               if importlib.util.find_spec(m) is not None]}))
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the package installed from the repository path, as a user does."""
    root = tmp_path_factory.mktemp("byo-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))
    # Offline and fast: the pinned dependencies (and pytest) are the suite's own (a path, not
    # its .pth files: the suite's editable install of this package is not visible there). pip
    # resolves the package's declared dependencies against them and builds it with the pinned
    # setuptools.
    (site / "suite_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    build = tmp_path_factory.mktemp("byo-build")
    done = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install",
            "--no-index", "--no-build-isolation", "--disable-pip-version-check", "-q",
            f"{ROOT}[gcp,testing,agent]",
        ],
        cwd=build, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


def _run(venv: Path, where: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    # -I: no PYTHONPATH, no user site, not the working directory: only what the venv holds.
    return subprocess.run(
        [str(venv / "bin" / "python"), "-I", *argv],
        cwd=where, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example as a platform team has it: its own directory, nowhere near this checkout."""
    copy = tmp_path_factory.mktemp("byo-run") / "byo-gke"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    return copy


@pytest.fixture(scope="module")
def report(venv: Path, program: Path) -> dict[str, str]:
    """The example's tests run by the venv's pytest: test name -> outcome, from its JUnit XML."""
    xml = program.parent / "report.xml"
    done = _run(
        venv, program, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
        "test_program.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes: dict[str, str] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        failed = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.attrib["name"]] = failed[0] if failed else "passed"
    return outcomes


def test_the_installed_package_is_used_and_the_checkout_is_out_of_reach(
    venv: Path, program: Path
) -> None:
    done = _run(venv, program, "-c", WHERE)
    assert done.returncode == 0, done.stderr
    where: dict[str, Any] = json.loads(done.stdout)
    assert Path(where["testing"]).is_relative_to(venv), where
    assert where["checkout"] == []
    assert not program.is_relative_to(ROOT)


def test_every_check_of_the_example_passes(report: dict[str, str]) -> None:
    assert report == dict.fromkeys(EXPECTED_TESTS, "passed")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_the_console_script_prints_usage(venv: Path, program: Path, flag: str) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "ip-masq-agent"), flag],
        cwd=program, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: ip-masq-agent [command] [flags]\n")
    assert "  render   " in done.stdout and "  -config value" in done.stdout


def test_the_console_script_renders(venv: Path, program: Path) -> None:
    config = program.parent / "agent-config"
    config.write_text("nonMasqueradeCIDRs: [10.32.0.0/14]\n")
    done = subprocess.run(
        # An explicit backend and no --random-fully probe: nothing of the host is read.
        [str(venv / "bin" / "ip-masq-agent"), "render", f"--config={config}",
         "--backend=iptables", "--random-fully=false"],
        cwd=program, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("*nat\n") and "-d 10.32.0.0/14 -j RETURN" in done.stdout
