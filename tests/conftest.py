"""Shared fixtures: the kernel lab, which fails instead of skipping under CI=true."""

import os
from collections.abc import Iterator

import pytest

from netlab.lab import Lab, kernel_lab_unavailable


@pytest.fixture(scope="session")
def kernel_available() -> None:
    reason = kernel_lab_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"kernel tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def lab(kernel_available: None) -> Iterator[Lab]:
    with Lab() as created:
        yield created
