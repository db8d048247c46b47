"""The agent as a lab process: run in a node namespace from a ConfigMap volume, as kubelet would."""

import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from netlab.configmap_volume import ConfigMapVolume
from netlab.fetch import fetch
from netlab.lab import REPO_ROOT, Lab, LabError, Namespace

DEBIAN_PYTHON = "/usr/bin/python3"
HEALTH_ADDRESS = "127.0.0.1:10261"  # each node namespace has its own loopback: one port fits all
METRICS_ADDRESS = "127.0.0.1:10262"  # the agent's default --metrics-address
# Flags a sandbox must set itself: where the volume is mounted, where health and metrics are.
_SANDBOX_FLAGS = ("config", "health-address", "metrics-address")


def debian_python_argv(module: str, *args: str) -> list[str]:
    """`module` run as the image runs the agent: Debian's python3 -s, only Debian's packages.

    PYTHONPATH holds this checkout's agent source (and the repo root, for bench drivers) and
    nothing of the venv: an import outside the standard library, PyYAML and prometheus-client
    fails here as it would in the image.
    """
    path = f"{REPO_ROOT / 'agent_image' / 'src'}:{REPO_ROOT}"
    return ["env", f"PYTHONPATH={path}", DEBIAN_PYTHON, "-s", "-m", module, *args]


def agent_argv(*args: str) -> list[str]:
    """The `ip-masq-agent` command on Debian's python3 (prefix it with a namespace's `run`)."""
    return debian_python_argv("ip_masq_agent", *args)


def _flag_name(arg: str) -> str | None:
    if not arg.startswith("-"):
        return None
    return arg.lstrip("-").partition("=")[0]


def sandbox_agent_args(
    daemon_set_args: Sequence[str],
    *,
    config_path: str,
    health_address: str = HEALTH_ADDRESS,
    backend: str | None = None,
) -> list[str]:
    """The DaemonSet's container args with only the sandbox's own flags replaced.

    Every flag is given as `--name=value` by the component, so dropping one is dropping one arg.
    `backend` replaces `--backend` (tests run both backends from the same render).
    """
    replaced = set(_SANDBOX_FLAGS) | ({"backend"} if backend is not None else set())
    args = [a for a in daemon_set_args if _flag_name(a) not in replaced]
    args += [
        f"--config={config_path}",
        f"--health-address={health_address}",
        f"--metrics-address={METRICS_ADDRESS}",
    ]
    if backend is not None:
        args.append(f"--backend={backend}")
    return args


class NodeAgent:
    """One agent process in a node namespace; restartable; killed with the lab."""

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        volume: ConfigMapVolume,
        daemon_set_args: Sequence[str],
        *,
        log: Path,
        backend: str | None = None,
    ) -> None:
        self.lab = lab
        self.ns = ns
        self.volume = volume
        self.log = log
        self.args = sandbox_agent_args(
            daemon_set_args, config_path=str(volume.path), backend=backend
        )
        self.process: subprocess.Popen[str] | None = None

    def argv(self, *extra: str) -> list[str]:
        # Debian's python3 with only Debian's packages, as the image runs the agent.
        return agent_argv(*self.args, *extra)

    def start(self) -> None:
        self.process = self.lab.spawn(self.ns, *self.argv(), output=self.log)

    def once(self) -> None:
        """One sync and exit (`--once`), for setting up a known rule set."""
        self.ns.run(*self.argv("--once"), timeout=30)

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Bounded wait for /readyz: the first sync is in the kernel."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LabError(f"[{self.ns.name}] agent exited: {self.log_tail()}")
            status, _ = fetch(self.ns, f"http://{HEALTH_ADDRESS}/readyz", timeout=1.0)
            if status == 200:
                return
            time.sleep(0.1)
        raise LabError(f"[{self.ns.name}] agent not ready after {timeout}s: {self.log_tail()}")

    def healthz(self) -> tuple[int, str]:
        return fetch(self.ns, f"http://{HEALTH_ADDRESS}/healthz")

    def metrics(self) -> str:
        status, body = fetch(self.ns, f"http://{METRICS_ADDRESS}/metrics")
        if status != 200:
            raise LabError(f"[{self.ns.name}] /metrics answered {status}: {body[:200]}")
        return body

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
