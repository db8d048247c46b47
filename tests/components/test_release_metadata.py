"""What a release states about itself: the licence text, the version once, no placeholder URL."""

import subprocess
import tomllib
from pathlib import Path

import yaml

from pulumi_ip_masq_agent import __version__

ROOT = Path(__file__).resolve().parents[2]
# Debian's copy of the licence the distribution declares.
APACHE_2_0 = Path("/usr/share/common-licenses/Apache-2.0")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.split(b"\0")
    paths = [ROOT / name.decode() for name in listed if name]
    return [p for p in paths if p.is_file() and not p.is_symlink() and p.suffix != ".png"]


def test_license_file_is_the_declared_licence() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    if APACHE_2_0.exists():
        assert text == APACHE_2_0.read_text()


def test_no_placeholder_repository_url_is_left() -> None:
    placeholder = "<repo" + "-url>"  # spelled apart, so this file does not match itself
    found = [p for p in tracked_text_files() if placeholder in p.read_text(errors="replace")]
    assert found == []


def test_the_version_is_read_not_restated() -> None:
    # The image takes its label from a build argument, the pack's files are checked equal.
    dockerfile = (ROOT / "agent_image/Dockerfile").read_text()
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile
    assert __version__ not in dockerfile
    assert not (ROOT / "agent_image/pyproject.toml").exists()
    pack = yaml.safe_load((ROOT / "policies/PulumiPolicy.yaml").read_text())
    assert pack["version"] == __version__
