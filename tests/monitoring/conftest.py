"""The promtool fixture: missing fails under CI=true (set-up installs it), skips elsewhere."""

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is not None:
        return path
    reason = "promtool not found (scripts/setup.sh installs Debian's prometheus package)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
