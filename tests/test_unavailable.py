"""A test that cannot run here skips locally and fails under CI=true."""

import pytest

from tests.unavailable import cannot_run_here


def test_under_ci_a_missing_prerequisite_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run in CI: no nft"):
        cannot_run_here("no nft")


def test_elsewhere_it_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no nft"):
        cannot_run_here("no nft")
