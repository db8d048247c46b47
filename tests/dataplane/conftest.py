"""Fixtures of the dataplane tests: upstream's recorded nat tables."""

import os

import pytest

from netlab.upstream_records import DATA_ENV, UpstreamRecords, data_path


@pytest.fixture(scope="session")
def upstream(kernel_available: None) -> UpstreamRecords:
    """Upstream v2.12.6's recorded answers; a missing file fails under CI=true, as the lab does."""
    path = data_path()
    if path.is_file():
        return UpstreamRecords.load(path)
    reason = f"no upstream records at {path} (set {DATA_ENV} to the file)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"conformance tests must run in CI: {reason}")
    pytest.skip(reason)
