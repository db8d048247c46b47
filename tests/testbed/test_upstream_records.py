"""Where the recorded upstream tables are found: beside the checkout, or beside its origin."""

import subprocess
from pathlib import Path

import pytest

from testbed.netlab.upstream_records import DATA_ENV, data_path


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


@pytest.fixture
def workplace(tmp_path: Path) -> Path:
    """A repository beside `shared/upstream/upstream-nat-tables.json`, as this one is."""
    (tmp_path / "shared" / "upstream").mkdir(parents=True)
    (tmp_path / "shared" / "upstream" / "upstream-nat-tables.json").write_text("{}")
    _git("init", "-q", str(tmp_path / "main"))
    return tmp_path


def test_found_beside_the_checkout(workplace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    found = data_path(workplace / "main")
    assert found == workplace / "shared" / "upstream" / "upstream-nat-tables.json"


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_found_from_a_temporary_clone(
    workplace: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    elsewhere = tmp_path_factory.mktemp("clone")
    if how == "absolute":
        _git("clone", "-q", str(workplace / "main"), str(elsewhere / "p"))
    else:
        subprocess.run(
            ["git", "clone", "-q", ".", str(elsewhere / "p")],
            cwd=workplace / "main",
            check=True,
            capture_output=True,
        )
    found = data_path(elsewhere / "p")
    assert found.resolve() == (workplace / "shared" / "upstream" / "upstream-nat-tables.json")
    assert found.is_file()


def test_the_environment_overrides(workplace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV, "/elsewhere/records.json")
    assert data_path(workplace / "main") == Path("/elsewhere/records.json")
