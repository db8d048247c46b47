"""What README.md and docs/ say about the tree, checked against the tree.

Prose drifts when code moves; these are the claims a test can check: every repository path the
docs name exists, the architecture section names every top-level part of the repository, and
the Backend protocol the README lists is the one in backends/base.py.
"""

import re
import subprocess
from pathlib import Path
from typing import Final

import pytest

from ip_masq_agent.backends.base import Backend

ROOT: Final = Path(__file__).resolve().parents[1]
DOCS: Final = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A backticked word that names a repository path: it starts at one of the tracked top-level
# entries, or is a path below the agent or Pulumi package as the prose abbreviates them.
_BACKTICKED: Final = re.compile(r"`([^`\s]+)`")


def _tracked() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return listing.splitlines()


TRACKED: Final = _tracked()
TOP_LEVEL: Final = sorted({path.split("/", 1)[0] for path in TRACKED if "/" in path})


def _exists(path: str) -> bool:
    path = path.rstrip("/")
    return any(t == path or t.startswith(f"{path}/") for t in TRACKED)


def _named_paths(text: str) -> list[str]:
    named = []
    for word in _BACKTICKED.findall(text):
        head = word.split("/", 1)[0]
        if "/" in word and head in TOP_LEVEL and not any(c in word for c in "*<>{}$:"):
            named.append(word.split("#", 1)[0])
    return named


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_repository_path_the_docs_name_exists(doc: Path) -> None:
    missing = [p for p in _named_paths(doc.read_text()) if not _exists(p)]
    assert missing == [], f"{doc.name} names paths that are not in the tree: {missing}"


def _architecture() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Architecture")
    end = readme.find("\n## ", start)
    return readme[start : end if end != -1 else None]


def test_the_architecture_section_names_every_top_level_part() -> None:
    section = _architecture()
    # Hidden directories (CI, editor settings) are machinery, not architecture.
    unnamed = [d for d in TOP_LEVEL if not d.startswith(".") and f"`{d}/" not in section]
    assert unnamed == [], f"README's Architecture does not name {unnamed}"


def test_the_readme_lists_the_backend_protocol_whole() -> None:
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"`Backend` protocol in `[^`]+` \(([^)]*)\)", readme.replace("\n", " "))
    assert line is not None, "README no longer describes the Backend protocol"
    listed = set(re.findall(r"`(\w+)`", line.group(1)))
    members = {
        name
        for name in dir(Backend)
        if not name.startswith("_") and name not in dir(object) and name != "register"
    }
    assert listed == members


PRODUCT_PACKAGES: Final = ("agent_image/src/ip_masq_agent/", "src/pulumi_ip_masq_agent/")


def test_the_architecture_section_places_every_product_module() -> None:
    """Each module of the agent and of the Pulumi package is named, or its folder is."""
    section = _architecture()
    unplaced = []
    for path in TRACKED:
        package = next((p for p in PRODUCT_PACKAGES if path.startswith(p)), None)
        if package is None or not path.endswith(".py") or "/agent_context/" in path:
            continue
        name = path.rsplit("/", 1)[-1]
        if name in {"__init__.py", "__main__.py", "_version.py"}:
            continue
        folder = path[len(package) :].rsplit("/", 1)[0] + "/" if "/" in path[len(package) :] else ""
        if f"`{name}`" not in section and not (folder and f"`{folder}`" in section):
            unplaced.append(path)
    assert unplaced == [], f"README's Architecture does not place {unplaced}"
