"""A minimal kubelet: a rendered DaemonSet's pod on a sandbox node, run with podman and probed.

Only what `testbed.kubelet.pod_spec` accepted is run; volumes are laid out as kubelet lays them out
(a ConfigMap as a projected directory whose `..data` symlink is swapped on update), probes
run from the node's network namespace against the pod's address (the node's, with
hostNetwork) every `periodSeconds`, and a container whose liveness probe failed
`failureThreshold` times in a row is stopped with the pod's grace period and started again.
"""

import json
import secrets
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent_image.podman import PodmanError, network_flag, podman, podman_argv, run_argv
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.kubelet.pod_spec import (
    ConfigMapSource,
    ContainerSpec,
    EmptyDirSource,
    HostPathSource,
    HttpGetProbe,
    PodSpec,
    PodSpecError,
    expand_references,
    resolve_env,
)
from testbed.netlab.fetch import fetch
from testbed.netlab.lab import Lab, LabError, Namespace

# kubelet's crash-loop back-off: doubles from 10 s, capped at 5 min (the first restart is at once).
BACKOFF_START, BACKOFF_CAP = 10.0, 300.0

ConfigMapData = Mapping[str, str | bytes]
# A container spec's image -> the local image podman runs; raises PodSpecError for one this node
# cannot have. The sandbox has no registry, so whoever runs the kubelet says what maps to what.
ImageResolver = Callable[[str], str]


def node_labels(node: str, arch: str = "amd64") -> dict[str, str]:
    """The well-known labels a Linux node carries (what nodeSelector is checked against);
    `arch` is the architecture its containers run as (arm64: emulated on this machine)."""
    return {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": node,
    }


def admit(pod: PodSpec, node: str, arch: str = "amd64") -> None:
    """kubelet's admission check of the node selector and the required node affinity."""
    labels = node_labels(node, arch)
    for key, value in pod.node_selector:
        if labels.get(key) != value:
            raise PodSpecError(f"nodeSelector {key}={value}: node {node} has {labels.get(key)!r}")
    terms = pod.node_affinity
    if terms and not any(all(r.matches(labels) for r in term) for term in terms):
        raise PodSpecError(f"nodeAffinity: node {node} ({labels}) matches no nodeSelectorTerm")


def project_config_map(source: ConfigMapSource, data: ConfigMapData | None) -> dict[str, bytes]:
    """The files a configMap volume holds for this data (None: the ConfigMap does not exist)."""
    if data is None:
        if source.optional:
            return {}
        raise PodSpecError(f"configMap {source.name!r}: not found and not optional")
    items = source.items if source.items is not None else tuple((k, k) for k in sorted(data))
    files = {}
    for key, path in items:
        if key not in data:
            if source.optional:
                continue
            raise PodSpecError(f"configMap {source.name!r}: no key {key!r}")
        value = data[key]
        files[path] = value.encode() if isinstance(value, str) else value
    return files


_HOST_PATH_CHECKS: dict[str, Callable[[int], bool]] = {
    "Directory": stat.S_ISDIR,
    "File": stat.S_ISREG,
    "Socket": stat.S_ISSOCK,
    "CharDevice": stat.S_ISCHR,
    "BlockDevice": stat.S_ISBLK,
}


def prepare_host_path(source: HostPathSource) -> None:
    """kubelet's hostPath type check: create what *OrCreate asks for, refuse a wrong kind."""
    path = Path(source.path)
    if source.type == "DirectoryOrCreate":
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    elif source.type == "FileOrCreate":
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        with path.open("a"):
            pass
        # kubelet creates the file 0644 (its own umask aside)
        if path.stat().st_size == 0:
            path.chmod(0o644)
    check = _HOST_PATH_CHECKS.get(source.type.removesuffix("OrCreate"))
    if check is not None:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise PodSpecError(f"hostPath {path}: does not exist (type {source.type})") from None
        if not check(mode):
            raise PodSpecError(f"hostPath {path}: not a {source.type.removesuffix('OrCreate')}")


def pod_fields(pod: PodSpec, node: str, pod_ip: str) -> dict[str, str]:
    """The downward-API values of this pod on this node (hostNetwork: podIP is the node's)."""
    return {
        "status.hostIP": pod_ip,
        "status.podIP": pod_ip,
        "spec.nodeName": node,
        "metadata.name": f"{pod.name}-{node}",
        "metadata.namespace": pod.namespace,
    }


def container_run_flags(
    container: ContainerSpec,
    pod: PodSpec,
    *,
    volume_dirs: Mapping[str, Path],
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The podman run flags that give the container what its spec says (pure)."""
    env = env or {}
    flags = [f"--env={name}={value}" for name, value in env.items()]
    flags += [f"--cap-drop={c}" for c in container.cap_drop]
    flags += [f"--cap-add={c}" for c in container.cap_add]
    if container.read_only_root:
        # Kubernetes adds no writable /run, /tmp or /var/tmp of its own: only the pod's volumes.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if container.no_new_privileges:
        flags.append("--security-opt=no-new-privileges")
    if container.privileged:
        flags.append("--privileged")
    if container.run_as_user is not None:
        flags.append(f"--user={container.run_as_user}")
    if container.seccomp == "Unconfined":
        flags.append("--security-opt=seccomp=unconfined")
    # RuntimeDefault: podman's own default profile, which is the runtime's default here.
    if container.cpu_limit is not None:
        flags.append(f"--cpus={container.cpu_limit:g}")
    if container.memory_limit_bytes is not None:
        flags.append(f"--memory={container.memory_limit_bytes}b")
    for mount in container.mounts:
        source = pod.volume(mount.volume)
        mode = "ro" if mount.read_only else "rw"
        if isinstance(source, ConfigMapSource):
            # kubelet mounts configMap volumes read-only whatever the mount says.
            flags.append(f"--volume={volume_dirs[mount.volume]}:{mount.mount_path}:ro")
        elif isinstance(source, HostPathSource):
            flags.append(f"--volume={source.path}:{mount.mount_path}:{mode}")
        elif source.medium == "Memory":
            limit = source.size_limit_bytes
            size = "" if limit is None else f",tmpfs-size={limit}"
            flags.append(f"--mount=type=tmpfs,destination={mount.mount_path},{mode}{size}")
        else:
            flags.append(f"--volume={volume_dirs[mount.volume]}:{mount.mount_path}:{mode}")
    if container.command is not None:
        command = [expand_references(part, env) for part in container.command]
        flags.append(f"--entrypoint={json.dumps(command)}")
    return flags


def container_args(container: ContainerSpec, env: Mapping[str, str]) -> list[str]:
    """The args after the image, `$(VAR)` expanded as kubelet does."""
    return [expand_references(arg, env) for arg in container.args or ()]


def probe_url(probe: HttpGetProbe, pod_ip: str) -> str:
    host = probe.host or pod_ip
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{probe.port}{probe.path}"


@dataclass
class ProbeState:
    """What kubelet knows of one probe: the last result and the run of equal results."""

    url: str
    ok: bool = False
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    history: list[tuple[float, int]] = field(default_factory=list)  # (time, HTTP status; 0 none)


class ContainerRunner:
    """One container of the pod: started, probed, restarted; every instance removed on close."""

    def __init__(self, kubelet: "Kubelet", spec: ContainerSpec) -> None:
        self.kubelet = kubelet
        self.spec = spec
        self.image = kubelet.images(spec.image)  # refused here, before anything runs
        self.restart_count = 0
        self.args: list[str] = []  # as run: `$(VAR)` expanded
        self.events: list[str] = []
        # Wall-clock time each instance was handed to podman: no instance can act before its
        # entry, so a test can bound what the previous one left in place (restart_count is
        # set only once podman returns, when the new agent may already have written).
        self.launched_at: list[float] = []
        self.liveness, self.readiness, self.startup = (
            None if probe is None else ProbeState(probe_url(probe, kubelet.pod_ip))
            for probe in (spec.liveness, spec.readiness, spec.startup)
        )
        self._lock = threading.Lock()
        self._started_at = 0.0
        self._name: str | None = None
        self._threads: list[threading.Thread] = []

    @property
    def name(self) -> str:
        if self._name is None:
            raise LabError(f"container {self.spec.name} not started")
        return self._name

    def log_path(self, restart: int) -> Path:
        suffix = "" if restart == 0 else f"-restart{restart}"
        return self.kubelet.workdir / f"{self.kubelet.node}-{self.spec.name}{suffix}.log"

    def _run(self, restart: int) -> None:
        kubelet = self.kubelet
        name = f"{kubelet.token}-{kubelet.node}-{self.spec.name}-{restart}"
        env = resolve_env(self.spec, pod_fields(kubelet.pod, kubelet.node, kubelet.pod_ip))
        self.args = container_args(self.spec, env)
        argv = run_argv(
            "--detach",
            f"--name={name}",
            network_flag(kubelet.ns.name),
            f"--hostname={kubelet.node}",
            "--pull=never",
            "--log-driver=k8s-file",
            f"--log-opt=path={self.log_path(restart)}",
            *container_run_flags(self.spec, kubelet.pod, volume_dirs=kubelet.volume_dirs, env=env),
            self.image,
            *self.args,
        )
        kubelet.created.append(name)
        self.launched_at.append(time.time())
        podman(argv)
        with self._lock:
            self._name = name
            self._started_at = time.monotonic()
            self.restart_count = restart
        self.events.append(f"started {name}")

    def start(self) -> None:
        self._run(0)
        for kind in ("startup", "liveness", "readiness"):
            if getattr(self, kind) is not None:
                self._spawn(self._probe_loop, kind)
        self._spawn(self._supervise)

    def _spawn(self, target: Callable[..., None], *args: str) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def pid(self) -> int:
        """The container's main process, as the host sees it."""
        shown = podman(podman_argv("inspect", "--format", "{{.State.Pid}}", self.name))
        return int(shown.stdout.strip())

    def _probe_loop(self, kind: str) -> None:
        probe: HttpGetProbe = getattr(self.spec, kind)
        state: ProbeState = getattr(self, kind)
        stop = self.kubelet.stopping
        # kubelet probes at once, then every periodSeconds, skipping the initial delay; with a
        # startup probe, the others wait until it has succeeded, and it stops once it has.
        while not stop.is_set():
            with self._lock:
                since_start = time.monotonic() - self._started_at
            started = self.startup is None or self.startup.ok
            gated = kind != "startup" and not started
            finished = kind == "startup" and started
            if not (gated or finished) and since_start >= probe.initial_delay_seconds:
                status, _ = fetch(self.kubelet.ns, state.url, timeout=probe.timeout_seconds)
                self._record(kind, probe, state, status)
            stop.wait(probe.period_seconds)

    def _record(self, kind: str, probe: HttpGetProbe, state: ProbeState, status: int) -> None:
        passed = 200 <= status < 400  # kubelet's httpGet success
        state.history.append((time.time(), status))
        if passed:
            state.consecutive_successes += 1
            state.consecutive_failures = 0
            if state.consecutive_successes >= probe.success_threshold:
                state.ok = True
            return
        state.consecutive_failures += 1
        state.consecutive_successes = 0
        if state.consecutive_failures < probe.failure_threshold:
            return
        state.ok = False
        if kind in ("liveness", "startup") and not self.kubelet.stopping.is_set():
            self.events.append(
                f"{kind} failed {state.consecutive_failures} times ({state.url}): killing"
            )
            state.consecutive_failures = 0
            self._kill()

    def _kill(self) -> None:
        grace = self.kubelet.pod.termination_grace_seconds
        podman(podman_argv("stop", f"--time={grace}", self.name), check=False, timeout=grace + 30)

    def _supervise(self) -> None:
        """restartPolicy Always (a DaemonSet's only one): a container that exits starts again."""
        backoff = 0.0
        stop = self.kubelet.stopping
        while not stop.is_set():
            podman(podman_argv("wait", self.name), check=False, timeout=24 * 3600)
            if stop.is_set():
                return
            self.events.append(f"exited {self.name}")
            if stop.wait(backoff):
                return
            backoff = min(BACKOFF_CAP, max(BACKOFF_START, backoff * 2))
            for state in (self.liveness, self.readiness, self.startup):
                if state is not None:
                    state.ok = False
                    state.consecutive_failures = state.consecutive_successes = 0
            try:
                self._run(self.restart_count + 1)
            except PodmanError as err:
                self.events.append(f"restart failed: {err}")

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)


class Kubelet:
    """Runs one pod on one sandbox node; `close` (also via the Lab) removes every container."""

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        *,
        node: str,
        pod_ip: str,
        pod: PodSpec,
        config_maps: Mapping[str, ConfigMapData],
        images: ImageResolver,
        workdir: Path,
        arch: str = "amd64",
    ) -> None:
        admit(pod, node, arch)
        self.lab = lab
        self.ns = ns
        self.node = node
        self.pod_ip = pod_ip
        self.pod = pod
        self.images = images
        self.workdir = workdir
        self.token = f"{lab.token}{secrets.token_hex(2)}"
        self.stopping = threading.Event()
        self.created: list[str] = []
        self.volume_dirs: dict[str, Path] = {}
        self.config_map_volumes: dict[str, tuple[ConfigMapSource, ConfigMapVolume]] = {}
        workdir.mkdir(parents=True, exist_ok=True)
        for name, source in pod.volumes:
            directory = workdir / f"{node}-volumes" / name
            if isinstance(source, ConfigMapSource):
                volume = ConfigMapVolume(directory)
                volume.project(project_config_map(source, config_maps.get(source.name)))
                self.config_map_volumes[name] = (source, volume)
            elif isinstance(source, HostPathSource):
                prepare_host_path(source)
            elif isinstance(source, EmptyDirSource) and source.medium == "":
                directory.mkdir(parents=True, exist_ok=True)
            self.volume_dirs[name] = directory
        self.containers = [ContainerRunner(self, spec) for spec in pod.containers]
        lab.defer(self.close)

    def start(self) -> None:
        for container in self.containers:
            container.start()

    def update_config_map(self, name: str, data: ConfigMapData | None) -> None:
        """The ConfigMap changed (None: deleted): swap `..data` in every volume that projects it."""
        for source, volume in self.config_map_volumes.values():
            if source.name == name:
                volume.project(project_config_map(source, data))

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Bounded wait until every container answers its readiness probe's URL.

        Polled here rather than waiting for kubelet's own next period (10 s by default), so a
        sandbox starts quickly; kubelet's own view is `ContainerRunner.readiness`.
        """
        deadline = time.monotonic() + timeout
        for container in self.containers:
            state = container.readiness
            if state is None:
                continue
            while True:
                status, _ = fetch(self.ns, state.url, timeout=1.0)
                if 200 <= status < 400:
                    break
                if time.monotonic() > deadline:
                    raise LabError(
                        f"[{self.node}] {container.spec.name} not ready after {timeout}s "
                        f"({state.url} answered {status}): {container.events}"
                    )
                time.sleep(0.2)

    def close(self) -> None:
        self.stopping.set()
        self._remove_created()
        for container in self.containers:
            container.join()
        self._remove_created()  # a restart that raced the first pass

    def _remove_created(self) -> None:
        while self.created:
            name = self.created.pop()
            podman(podman_argv("rm", "--force", "--time=0", name), check=False, timeout=60)


def leftover_containers(token: str) -> list[str]:
    """Names of containers (any state) whose name holds this token: what a cleanup left behind."""
    listed = podman(podman_argv("ps", "--all", "--format", "{{.Names}}"))
    return [n for n in listed.stdout.split() if token in n]
