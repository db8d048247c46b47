"""The real upstream ip-masq-agent as a lab process: its config bind-mounted at /etc/config."""

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from testbed.netlab.lab import Lab, LabError, Namespace

UPSTREAM_ENV: Final = "IP_MASQ_AGENT_UPSTREAM"
# Upstream reads this path and no other (no flag changes it).
UPSTREAM_CONFIG_DIR: Final = "/etc/config"
UPSTREAM_CONFIG_KEY: Final = "ip-masq-agent"
# At -v=2 upstream logs the IPv6 step last in every sync (also "not enabled"); any failed
# step logs "Error syncing ...". Either means the first sync is over.
_SYNC_DONE: Final = ("IPv6 masquerading rules", "Error syncing")
# unshare gives it a private mount namespace; the bind mount never reaches the host's.
_MOUNT_AND_EXEC: Final = (
    'mkdir -p "$0" && mount --bind "$1" "$0" && shift && exec ip netns exec "$@"'
)


def upstream_binary() -> Path | None:
    """The upstream binary named by IP_MASQ_AGENT_UPSTREAM, or None when unset or absent."""
    named = os.environ.get(UPSTREAM_ENV)
    if not named:
        return None
    path = Path(named).resolve()
    return path if path.is_file() and os.access(path, os.X_OK) else None


def upstream_argv(binary: Path, ns: Namespace, config_dir: Path, *flags: str) -> list[str]:
    """Upstream in `ns`, reading `config_dir` as its /etc/config (klog to stderr, -v=2)."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _MOUNT_AND_EXEC,
        UPSTREAM_CONFIG_DIR,
        str(config_dir),
        ns.name,
        str(binary),
        "--logtostderr",
        "--v=2",
        *flags,
    ]


def start_upstream(
    lab: Lab, binary: Path, ns: Namespace, config_dir: Path, *flags: str, log: Path
) -> subprocess.Popen[str]:
    """Start upstream as a lab process (killed with the lab); its log goes to `log`."""
    with log.open("a") as sink:
        process = subprocess.Popen(
            upstream_argv(binary, ns, config_dir, *flags),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    lab.processes.append(process)
    return process


def _children(pid: int) -> list[str]:
    """Child pids of every thread of `pid` (Go runs exec from any of its threads)."""
    found: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += task.read_text().split()
        except OSError:
            continue  # the thread ended meanwhile
    return found


def wait_first_sync(process: subprocess.Popen[str], log: Path, timeout: float = 15.0) -> str:
    """Bounded wait until upstream's first sync is over; returns its log.

    The last step's log line comes before its restore runs: the sync is over once that line
    is there and upstream has started no tool for a while (it sleeps resyncInterval next).
    With `resyncInterval: 0s` it never rests, only rewrites the same rules: a second after
    that line its first sync is long over.
    """
    deadline = time.monotonic() + timeout
    quiet = 0
    done_at: float | None = None
    text = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"upstream exited ({process.returncode}): {text[-500:]}")
        text = log.read_text(errors="replace")
        if done_at is None and any(marker in text for marker in _SYNC_DONE):
            done_at = time.monotonic()
        if done_at is not None:
            quiet = 0 if _children(process.pid) else quiet + 1
            if quiet >= 5 or time.monotonic() - done_at > 1.0:
                return text
        time.sleep(0.02)
    raise LabError(f"upstream did not finish its first sync in {timeout}s: {text[-500:]}")


def stop(process: subprocess.Popen[str]) -> None:
    """Upstream never exits by itself; its rules stay in place when it is killed."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


@contextlib.contextmanager
def upstream_first_sync(
    lab: Lab,
    binary: Path,
    ns: Namespace,
    config: str | bytes | None,
    flags: Sequence[str] = (),
) -> Iterator[list[str]]:
    """Upstream started in `ns` with `config` (None: no file); on exit its first sync is over
    and it is killed. The yielded list then holds its log. Other work can run meanwhile."""
    log_holder: list[str] = []
    with tempfile.TemporaryDirectory(prefix="upstream-") as workdir:
        config_dir = Path(workdir) / "config"
        config_dir.mkdir()
        if config is not None:
            data = config.encode() if isinstance(config, str) else config
            (config_dir / UPSTREAM_CONFIG_KEY).write_bytes(data)
        log = Path(workdir) / "upstream.log"
        process = start_upstream(lab, binary, ns, config_dir, *flags, log=log)
        try:
            yield log_holder
            log_holder.append(wait_first_sync(process, log))
        finally:
            stop(process)


def run_upstream_once(
    lab: Lab,
    binary: Path,
    ns: Namespace,
    config: str | bytes | None,
    flags: Sequence[str] = (),
) -> str:
    """Upstream's first sync in `ns` with `config` (None: no file), then killed; its log."""
    with upstream_first_sync(lab, binary, ns, config, flags) as log:
        pass
    return log[0]
