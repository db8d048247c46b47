"""The agent as a lab process: run in a node namespace from a ConfigMap volume, as kubelet would."""

import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.kubelet.pod_spec import expand_references
from testbed.netlab.fetch import fetch
from testbed.netlab.lab import REPO_ROOT, Lab, LabError, Namespace

DEBIAN_PYTHON = "/usr/bin/python3"
# Where the agent answers when the DaemonSet does not say (each node namespace has its own
# loopback: one port fits all); the DaemonSet's own addresses are kept, as kubelet runs them.
HEALTH_ADDRESS = "127.0.0.1:10261"
METRICS_ADDRESS = "127.0.0.1:10262"  # the agent's default --metrics-address
# The flag a sandbox must set itself: where the volume is mounted.
_SANDBOX_FLAGS = ("config",)


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


def expand_env(arg: str, env: Mapping[str, str]) -> str:
    """`$(NAME)` replaced by the container env's value, as kubelet expands args; an unknown
    name stays as written (kubelet's rule too)."""
    return expand_references(arg, env)  # one expansion for both runtimes: the kubelet's


def sandbox_agent_args(
    daemon_set_args: Sequence[str],
    *,
    config_path: str,
    health_address: str | None = None,
    backend: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The DaemonSet's container args as kubelet runs them, with the sandbox's volume path.

    Every flag is given as `--name=value` by the component, so dropping one is dropping one arg.
    `$(NAME)` is expanded from `env`, the container's environment as kubelet resolves it (e.g.
    NODE_IP, the node's address). The DaemonSet's `--health-address` and `--metrics-address`
    stay what it says (HEALTH_ADDRESS and METRICS_ADDRESS when it says nothing), so the sandbox
    shows where a real node's agent listens; `health_address` and `backend` replace the
    DaemonSet's (tests run both backends from the same render).
    """
    env = env or {}
    replaced = set(_SANDBOX_FLAGS)
    replaced |= {"backend"} if backend is not None else set()
    replaced |= {"health-address"} if health_address is not None else set()
    args = [expand_env(a, env) for a in daemon_set_args if _flag_name(a) not in replaced]
    args.append(f"--config={config_path}")
    if health_address is not None or flag_value(args, "health-address") is None:
        args.append(f"--health-address={health_address or HEALTH_ADDRESS}")
    if flag_value(args, "metrics-address") is None:
        args.append(f"--metrics-address={METRICS_ADDRESS}")
    if backend is not None:
        args.append(f"--backend={backend}")
    return args


def local_url(address: str, path: str) -> str:
    """The URL of `path` at a listen address, as seen from the same namespace (a wildcard
    address answers on loopback)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def flag_value(args: Sequence[str], name: str) -> str | None:
    """The value of the last `--name=value` in `args`, or None."""
    values = [a.partition("=")[2] for a in args if _flag_name(a) == name and "=" in a]
    return values[-1] if values else None


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
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.lab = lab
        self.ns = ns
        self.volume = volume
        self.log = log
        self.args = sandbox_agent_args(
            daemon_set_args, config_path=str(volume.path), backend=backend, env=env
        )
        self.health_address = flag_value(self.args, "health-address") or HEALTH_ADDRESS
        self.metrics_address = flag_value(self.args, "metrics-address") or METRICS_ADDRESS
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
            status, _ = fetch(self.ns, local_url(self.health_address, "/readyz"), timeout=1.0)
            if status == 200:
                return
            time.sleep(0.1)
        raise LabError(f"[{self.ns.name}] agent not ready after {timeout}s: {self.log_tail()}")

    def healthz(self) -> tuple[int, str]:
        return fetch(self.ns, local_url(self.health_address, "/healthz"))

    def metrics(self) -> str:
        status, body = fetch(self.ns, local_url(self.metrics_address, "/metrics"))
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
