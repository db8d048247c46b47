"""What Debian's podman needs on this machine kind, found by trying: every podman call goes here.

Each fact is one flag or file, with the failure it avoids. Nothing else in the repo spells a
podman flag of its own; callers hand over what to run and get the machine's flags added.
"""

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

# The Debian packages that carry these facts: podman itself, runc (the runtime that works
# here, see RUN_FLAGS), mmdebstrap (the base rootfs from Debian's archive, see agent_image.build).
DEBIAN_PACKAGES = ("podman", "runc", "mmdebstrap")

# podman's default ulimits cannot be set here ("setrlimit: Operation not permitted"): a
# containers.conf with none, pointed to by CONTAINERS_CONF for every podman process.
CONTAINERS_CONF_TEXT = "[containers]\ndefault_ulimits = []\n"

# systemd does not manage cgroups here: podman must write cgroupfs itself.
GLOBAL_FLAGS = ("--cgroup-manager=cgroupfs",)

# The default OCI runtime cannot create containers here, so RUN steps of a build run chrooted.
BUILD_FLAGS = ("--isolation=chroot",)

# crun fails with "cgroups in hybrid mode not supported"; runc runs on this hybrid hierarchy.
RUN_FLAGS = ("--runtime", "runc")


def network_flag(netns: str) -> str:
    """Join a sandbox node's network namespace, as `hostNetwork: true` joins the node's."""
    return f"--network=ns:/run/netns/{netns}"


def _containers_conf() -> Path:
    # Written once per machine (same text for every caller), replaced atomically so that
    # parallel runs never read half a file.
    path = Path(tempfile.gettempdir()) / "ip-masq-agent-containers.conf"
    if not path.exists() or path.read_text() != CONTAINERS_CONF_TEXT:
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
            tmp.write(CONTAINERS_CONF_TEXT)
        os.replace(tmp.name, path)
    return path


def podman_env() -> dict[str, str]:
    """The environment every podman process runs with."""
    return {**os.environ, "CONTAINERS_CONF": str(_containers_conf())}


def podman_argv(*args: str) -> list[str]:
    """`podman <args>` with this machine kind's global flags."""
    return ["podman", *GLOBAL_FLAGS, *args]


def build_argv(*args: str) -> list[str]:
    """`podman build` as it works here."""
    return podman_argv("build", *BUILD_FLAGS, *args)


def run_argv(*args: str) -> list[str]:
    """`podman run` as it works here (the caller adds the container's own flags)."""
    return podman_argv("run", *RUN_FLAGS, *args)


class PodmanError(RuntimeError):
    """A podman command failed; the message carries the command and its stderr."""


def podman(
    args: Sequence[str], *, check: bool = True, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run one podman command (already built by the functions above) and capture its output."""
    done = subprocess.run(
        list(args),
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise PodmanError(f"{' '.join(args)}: {done.stderr.strip()[-800:]}")
    return done
