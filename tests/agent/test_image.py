"""The image definition: hadolint-clean, Debian packages only, and the agent on Debian's Python."""

import os
import subprocess
import sys
from pathlib import Path

from tests.unavailable import cannot_run_here

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "agent_image" / "Dockerfile"


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_installs_the_debian_runtime() -> None:
    text = DOCKERFILE.read_text()
    for package in ("python3-minimal", "python3-yaml", "python3-prometheus-client", "iptables"):
        assert f" {package}=" in text and f" {package} " in text  # pinned, and shipped
    assert "ARG BASE_IMAGE=debian:bookworm-slim\n" in text and "FROM scratch" in text
    assert 'ENTRYPOINT ["/usr/bin/python3", "-s", "-m", "ip_masq_agent"]' in text
    assert "org.opencontainers.image.title" in text
    # COPY sources are relative to the build context, agent_image/.
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            assert (DOCKERFILE.parent / line.split()[1]).exists(), line


def test_agent_runs_on_debian_python_with_debian_packages(tmp_path: Path) -> None:
    if not Path("/usr/bin/python3").exists():
        cannot_run_here("no Debian python3")
    # -s and a clean environment: only Debian's dist-packages and the agent's source tree.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT / "agent_image/src"),
    }
    # Every module of the package (not __main__, which would run the agent), then: nothing
    # imported from outside Debian's own Python and its python3-* packages (no netaddr).
    probe = (
        "import importlib, pkgutil, sys, ip_masq_agent as p\n"
        "for m in pkgutil.walk_packages(p.__path__, 'ip_masq_agent.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "allowed = ('/usr/lib/python3.11/', '/usr/lib/python3/dist-packages/', sys.argv[1])\n"
        "foreign = sorted(n for n, mod in list(sys.modules.items())\n"
        "    if getattr(mod, '__file__', None) and not mod.__file__.startswith(allowed))\n"
        "print(len([n for n in sys.modules if n.startswith('ip_masq_agent.')]), foreign)\n"
    )
    done = subprocess.run(
        ["/usr/bin/python3", "-s", "-c", probe, str(ROOT / "agent_image/src")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules, foreign = done.stdout.split(" ", 1)
    assert int(modules) >= 20  # the walk really imported the package
    assert foreign.strip() == "[]"
    rendered = subprocess.run(
        [
            "/usr/bin/python3",
            "-s",
            "-m",
            "ip_masq_agent",
            "render",
            f"--config={tmp_path / 'none'}",
            "--backend=iptables",  # `auto` would read the host's rules: tests never do
            "--random-fully=false",  # nor probe the host's `iptables --version`
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith("*nat\n:IP-MASQ-AGENT - [0:0]\n")
