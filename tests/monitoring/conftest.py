"""The promtool fixture: missing fails under CI=true (set-up installs it), skips elsewhere."""

import shutil

import pytest

from tests.unavailable import cannot_run_here


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is not None:
        return path
    reason = "promtool not found (scripts/setup.sh installs Debian's prometheus package)"
    cannot_run_here(reason)
