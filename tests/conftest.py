"""Shared fixtures: the kernel lab, which fails instead of skipping under CI=true, and the image.

The agent image is built once per session. On a fresh machine that means making the base from
Debian's archive too (minutes, mostly waiting on downloads), so the build starts in a thread
as soon as collection shows a test that needs it, and runs while the other tests do.
"""

import os
import shutil
import threading
from collections.abc import Iterator
from typing import NoReturn

import pytest

from agent_image.build import BuiltImage, build_image
from agent_image.podman import DEBIAN_PACKAGES
from testbed.netlab.lab import Lab, kernel_lab_unavailable
from testbed.netlab.upstream_records import DATA_ENV, UpstreamRecords, data_path
from tests.unavailable import cannot_run_here

IMAGE_FIXTURE = "agent_image"


def _unavailable(reason: str) -> NoReturn:
    cannot_run_here(f"kernel and image tests: {reason}")


@pytest.fixture(scope="session")
def kernel_available() -> None:
    reason = kernel_lab_unavailable()
    if reason is not None:
        _unavailable(reason)


@pytest.fixture(scope="session")
def upstream(kernel_available: None) -> UpstreamRecords:
    """Upstream v2.12.6's recorded nat tables; a missing file fails under CI=true, as the lab."""
    path = data_path()
    if path.is_file():
        return UpstreamRecords.load(path)
    _unavailable(f"no upstream records at {path} (set {DATA_ENV} to the file)")


@pytest.fixture
def lab(kernel_available: None) -> Iterator[Lab]:
    with Lab() as created:
        yield created


def image_unavailable() -> str | None:
    """Why the image cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root for podman"
    for tool in DEBIAN_PACKAGES:
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make setup installs it)"
    return None


class _ImageBuild:
    """One build per session, started early in a thread; the fixture waits for it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.result: BuiltImage | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._build, daemon=True)

    def _build(self) -> None:
        try:
            self.result = build_image(self.lines.append)
        except Exception as err:  # reported by the fixture, in the test that needs the image
            self.error = err

    def wait(self) -> BuiltImage:
        if not self.thread.is_alive() and self.result is None and self.error is None:
            self.thread.start()
        self.thread.join()
        if self.error is not None or self.result is None:
            pytest.fail(f"make image failed: {self.error}\n" + "\n".join(self.lines))
        return self.result


_build = _ImageBuild()


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = any(IMAGE_FIXTURE in getattr(item, "fixturenames", ()) for item in session.items)
    if wanted and image_unavailable() is None and kernel_lab_unavailable() is None:
        _build.thread.start()


@pytest.fixture(scope="session")
def agent_image(kernel_available: None) -> BuiltImage:
    reason = image_unavailable()
    if reason is not None:
        _unavailable(reason)
    return _build.wait()
