"""The one rule for a test that cannot run here: it skips locally, and fails under CI=true."""

import os
from typing import NoReturn

import pytest


def cannot_run_here(reason: str) -> NoReturn:
    """Skip for `reason` (a tool, root or the kernel is missing); under CI=true, fail instead:
    CI must run every test, so a missing prerequisite there is an error, never a skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"must run in CI: {reason}")
    pytest.skip(reason)
