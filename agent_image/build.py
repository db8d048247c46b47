"""`make image`: agent_image/ built with Debian's podman on a base made from Debian's archive.

The base `debian:bookworm-slim` the Dockerfile starts from is made once per machine by
`mmdebstrap --variant=minbase bookworm` and `podman import`, then reused; the build never
pulls (`--pull=never`), so nothing but Debian's archive is contacted. Prints the image
reference as its last line.

`--arch arm64` (make image ARCH=arm64) builds for arm64 on this amd64 machine: its own base
(`localhost/debian:bookworm-slim-arm64`, mmdebstrap under emulation) and the image tagged
`<version>-arm64`, the build's RUN steps run by Debian's qemu-user-static through binfmt_misc
(mounted and enabled here if the machine has not).

Reproducible: every timestamp in the image (its creation, every file in its layers) is
SOURCE_DATE_EPOCH, by default the commit time of HEAD, and the Dockerfile pins every Debian
package it ships, so two builds of one commit on fresh stores give the same image ID.
"""

import argparse
import contextlib
import fcntl
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from agent_image.podman import PodmanError, build_argv, podman, podman_argv
from pulumi_ip_masq_agent._version import __version__

# The build context is this file's directory; the checkout around it dates the build (git log).
AGENT_IMAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = AGENT_IMAGE_DIR.parent
IMAGE_NAME = "localhost/ip-masq-agent"
# The name the Dockerfile's FROM resolves to locally (podman looks up localhost/ for short names).
BASE_IMAGE = "localhost/debian:bookworm-slim"
BASE_SUITE = "bookworm"
TITLE_LABEL = "org.opencontainers.image.title=ip-masq-agent"  # the Dockerfile's
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# A fresh machine downloads the whole base and the image's packages: minutes, not seconds
# (and arm64's run emulated, several times slower).
BUILD_TIMEOUT = 1800.0

Arch = Literal["amd64", "arm64"]
# This machine's, as Debian names it (amd64 here; arm64 on an Arm CI runner).
HOST_ARCH: Arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "amd64"
# Debian's qemu-user-static registers each emulator under this binfmt_misc name.
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_NAMES: dict[Arch, str] = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}

# The image's budget, uncompressed as podman stores it (issue 20: done at 100 MB).
SIZE_LIMIT = 100_000_000

Say = Callable[[str], None]


@dataclass(frozen=True)
class BuiltImage:
    reference: str  # localhost/ip-masq-agent:<version>, or <version>-<arch> for another arch
    image_id: str  # what was built: runs use it, so a parallel rebuild of the tag cannot interfere
    base_seconds: float  # 0.0 when the machine's base was reused
    build_seconds: float


def agent_version() -> str:
    """The release's version (src/pulumi_ip_masq_agent/_version.py): the image's tag."""
    return __version__


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH if set, else HEAD's commit time: the image's every timestamp."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    shown = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(shown.stdout.strip())


def image_reference(arch: Arch = HOST_ARCH) -> str:
    suffix = "" if arch == HOST_ARCH else f"-{arch}"
    return f"{IMAGE_NAME}:{agent_version()}{suffix}"


def base_image(arch: Arch = HOST_ARCH) -> str:
    return BASE_IMAGE if arch == HOST_ARCH else f"{BASE_IMAGE}-{arch}"


def ensure_emulation(arch: Arch) -> None:
    """binfmt_misc mounted and Debian's qemu-user-static emulator for `arch` enabled."""
    if arch == HOST_ARCH or (BINFMT_DIR / BINFMT_NAMES[arch]).exists():
        return
    if not Path("/usr/sbin/update-binfmts").exists():
        raise PodmanError(f"{arch} needs qemu-user-static and binfmt-support (make setup)")
    if not (BINFMT_DIR / "register").exists():
        subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)],
            check=True,
            capture_output=True,
        )
    subprocess.run(
        ["update-binfmts", "--enable", BINFMT_NAMES[arch]], check=True, capture_output=True
    )


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    # One base and one image store per machine: parallel builds (two test sessions) take turns.
    path = Path(tempfile.gettempdir()) / "ip-masq-agent-image.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def base_exists(arch: Arch = HOST_ARCH) -> bool:
    exists = podman(podman_argv("image", "exists", base_image(arch)), check=False)
    return exists.returncode == 0


def make_base(say: Say, arch: Arch = HOST_ARCH) -> float:
    """mmdebstrap a minbase rootfs into a tarball, import it as the base; seconds taken."""
    started = time.monotonic()
    say(f"image: making base {base_image(arch)} with mmdebstrap (once per machine)")
    with tempfile.TemporaryDirectory(prefix="ip-masq-base-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        argv = [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            f"--architectures={arch}",
            "--format=tar",
            BASE_SUITE,
            str(tarball),
            DEBIAN_MIRROR,
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise PodmanError(f"{' '.join(argv)}: {done.stderr.strip()[-800:]}")
        imported = podman_argv("import", f"--arch={arch}", str(tarball), base_image(arch))
        podman(imported, timeout=BUILD_TIMEOUT)
    return time.monotonic() - started


def ensure_base(say: Say = print, arch: Arch = HOST_ARCH) -> None:
    """The machine's base, made if missing (what a test asking Debian's archive runs on)."""
    ensure_emulation(arch)
    with _machine_lock():
        if not base_exists(arch):
            make_base(say, arch)


@contextlib.contextmanager
def mounted_image(image: str) -> Iterator[Path]:
    """The image's file tree, read-only, for as long as the block runs."""
    shown = podman(podman_argv("image", "mount", image))
    try:
        yield Path(shown.stdout.strip())
    finally:
        podman(podman_argv("image", "unmount", image), check=False)


def build_image(say: Say = print, arch: Arch = HOST_ARCH) -> BuiltImage:
    """The base if this machine has none, then `podman build agent_image/`."""
    reference = image_reference(arch)
    ensure_emulation(arch)
    with _machine_lock():
        base_seconds = 0.0 if base_exists(arch) else make_base(say, arch)
        say(f"image: building {reference} from {AGENT_IMAGE_DIR.relative_to(REPO_ROOT)}/")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="ip-masq-image-") as tmp:
            iidfile = Path(tmp) / "iid"
            podman(
                build_argv(
                    "--pull=never",
                    f"--iidfile={iidfile}",
                    f"--build-arg=VERSION={agent_version()}",
                    f"--timestamp={source_date_epoch()}",
                    f"--platform=linux/{arch}",
                    f"--build-arg=BASE_IMAGE={base_image(arch)}",
                    f"--tag={reference}",
                    str(AGENT_IMAGE_DIR),
                ),
                timeout=BUILD_TIMEOUT,
            )
            image_id = iidfile.read_text().strip()
        build_seconds = time.monotonic() - started
        # Each rebuild untags the previous image: drop those of ours that nothing uses, so
        # builds do not pile up in the machine's store (the layer cache stays: it is in use).
        # Only those over an hour old: a parallel test session may still run the one it built.
        podman(
            podman_argv(
                "image", "prune", "--force", f"--filter=label={TITLE_LABEL}", "--filter=until=1h"
            ),
            timeout=BUILD_TIMEOUT,
        )
    return BuiltImage(reference, image_id, base_seconds, build_seconds)


def image_size(image: str) -> int:
    """Bytes of the image as podman stores it."""
    shown = podman(podman_argv("image", "inspect", "--format", "{{.Size}}", image))
    return int(shown.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", choices=get_args(Arch), default=HOST_ARCH)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "image: needs root (the tests and the demo use podman's root image store)",
            file=sys.stderr,
        )
        return 2

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        built = build_image(say, args.arch)
    except (PodmanError, FileNotFoundError) as err:
        print(f"image: build failed: {err}", file=sys.stderr)
        return 1
    base = f"base {built.base_seconds:.0f} s, " if built.base_seconds else "base reused, "
    size = image_size(built.image_id) / 1e6
    say(f"image: {base}build {built.build_seconds:.0f} s, {size:.0f} MB")
    print(built.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
