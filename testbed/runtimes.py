"""How the sandbox runs the DaemonSet's agent on its nodes: one interface, a process or a container.

`process` runs the agent from this checkout on Debian's python3 in each node's namespace (quick,
no image); `container` runs the built image under the rendered DaemonSet's pod spec through the
sandbox kubelet, as a node would. The kubelet knows no agent: which spec images mean the built
image is said here.
"""

import functools
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from ip_masq_agent.contract import (
    CONFIG_FILE_NAME,
    CONFIG_MAP_KEY,
    DEFAULT_HEALTH_ADDRESS,
    DEFAULT_METRICS_ADDRESS,
)
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.kubelet.kubelet import Kubelet
from testbed.kubelet.pod_spec import PodSpecError, parse_daemon_set
from testbed.netlab.cluster import Cluster
from testbed.netlab.cluster_plan import NodePlan, PlanError
from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import NodeAgent, flag_value
from testbed.sandbox.stack import SandboxStack

Runtime = Literal["process", "container"]
RUNTIMES: tuple[Runtime, ...] = ("process", "container")
PLACEHOLDER_PREFIX = "<unknown"  # what the mock render shows for an image known only on deploy
AGENT_REPOSITORY = "ip-masq-agent"


def map_image(spec_image: str, built: str) -> str:
    """The image to run: the agent's (any registry or tag) or a placeholder maps to `built`.

    The sandbox has no registry: any other image cannot be had here and is refused.
    """
    if spec_image.startswith(PLACEHOLDER_PREFIX):
        return built
    name = spec_image.split("@", 1)[0]
    repository = name.rsplit("/", 1)[-1].split(":", 1)[0]
    if repository == AGENT_REPOSITORY:
        return built
    raise PodSpecError(f"image {spec_image!r}: not the agent's, and the sandbox has no registry")


def node_env(stack: SandboxStack, node: NodePlan) -> dict[str, str]:
    """The agent container's downward-API env on this node, as kubelet resolves it."""
    # hostNetwork: the pod's address is the node's.
    fields = {"status.hostIP": str(node.ip4), "status.podIP": str(node.ip4)}
    env = {}
    for name, field in stack.agent_env:
        if field not in fields:
            raise PlanError(
                f"stack {stack.name}: env {name} from {field}: the sandbox knows no such"
            )
        env[name] = fields[field]
    return env


class AgentRuntime(Protocol):
    """The agent on every node of one sandbox: placed once the cluster exists, then driven."""

    name: Runtime

    def place(self, cluster: Cluster, nodes: Sequence[NodePlan]) -> None:
        """Lay out each node's config and agent (nothing runs yet)."""

    def start(self) -> None:
        """Start every node's agent, then wait (bounded) until each is ready."""

    def listen_addresses(self, node: str) -> tuple[str, str]:
        """Where this node's agent serves (health, metrics)."""
        ...

    def publish(self, node: str, config_text: str | bytes) -> None:
        """Swap the mounted ConfigMap data on this node, kubelet-style."""

    def roll_out(self, stack: SandboxStack | None, rollout: int) -> None:
        """Replace every node's agent with the stack's (None: stop them), node by node."""


class ProcessRuntime:
    """The agent as a lab process per node, reading the node's own ConfigMap volume."""

    name: Runtime = "process"

    def __init__(
        self, lab: Lab, stack: SandboxStack, workdir: Path, *, backend: str | None
    ) -> None:
        self.lab = lab
        self.stack = stack
        self.workdir = workdir
        self.backend = backend
        self.volumes: dict[str, ConfigMapVolume] = {}
        self.agents: dict[str, NodeAgent] = {}
        self._cluster: Cluster | None = None
        self._nodes: Sequence[NodePlan] = ()

    def place(self, cluster: Cluster, nodes: Sequence[NodePlan]) -> None:
        self._cluster, self._nodes = cluster, nodes
        for node in nodes:
            volume = ConfigMapVolume(self.workdir / node.name / "etc-config", key=CONFIG_FILE_NAME)
            volume.publish(self.stack.config_text)
            self.volumes[node.name] = volume
            self.agents[node.name] = self._node_agent(node, self.stack, f"{node.name}-agent.log")

    def _node_agent(self, node: NodePlan, stack: SandboxStack, log: str) -> NodeAgent:
        """The DaemonSet's agent on this node, as kubelet runs it, reading the node's volume."""
        assert self._cluster is not None, "place() first"
        return NodeAgent(
            self.lab,
            self._cluster.nodes[node.name],
            self.volumes[node.name],
            stack.agent_args,
            log=self.workdir / log,
            backend=self.backend,
            env=node_env(stack, node),
        )

    def start(self) -> None:
        for agent in self.agents.values():
            agent.start()
        for agent in self.agents.values():
            agent.wait_ready()

    def listen_addresses(self, node: str) -> tuple[str, str]:
        return self.agents[node].health_address, self.agents[node].metrics_address

    def publish(self, node: str, config_text: str | bytes) -> None:
        self.volumes[node].publish(config_text)

    def roll_out(self, stack: SandboxStack | None, rollout: int) -> None:
        # As the DaemonSet's RollingUpdate (maxUnavailable 1): the old pod stops (SIGTERM: its
        # rules stay), the new one starts and must be Ready before the next node.
        for node in self._nodes:
            old = self.agents.pop(node.name, None)
            if old is not None:
                old.kill(signal.SIGTERM)
            if stack is None:
                continue
            self.volumes[node.name].publish(stack.config_text)
            agent = self._node_agent(node, stack, f"{node.name}-rollout{rollout}-agent.log")
            agent.start()
            agent.wait_ready()
            self.agents[node.name] = agent
        if stack is not None:
            self.stack = stack


class ContainerRuntime:
    """The built image per node, run by the sandbox kubelet under the rendered pod spec."""

    name: Runtime = "container"

    def __init__(
        self, lab: Lab, stack: SandboxStack, workdir: Path, *, image: str, arch: str
    ) -> None:
        self.lab = lab
        self.stack = stack
        self.workdir = workdir
        self.arch = arch  # the nodes' kubernetes.io/arch: the image's (arm64 runs emulated)
        self.images = functools.partial(map_image, built=image)
        # Refused before anything is built: a field the kubelet cannot honour stops here.
        self.pod = parse_daemon_set(stack.daemon_set)
        for container in self.pod.containers:
            self.images(container.image)
        self.kubelets: dict[str, Kubelet] = {}

    @property
    def _config_map_name(self) -> str:
        name: str = self.stack.config_map["metadata"]["name"]
        return name

    def place(self, cluster: Cluster, nodes: Sequence[NodePlan]) -> None:
        config_maps = {self._config_map_name: self.stack.config_map["data"]}
        for node in nodes:
            self.kubelets[node.name] = Kubelet(
                self.lab,
                cluster.nodes[node.name],
                node=node.name,
                pod_ip=str(node.ip4),  # hostNetwork: the pod's IP is the node's
                pod=self.pod,
                config_maps=config_maps,
                images=self.images,
                workdir=self.workdir,
                arch=self.arch,
            )

    def start(self) -> None:
        for kubelet in self.kubelets.values():
            kubelet.start()
        for kubelet in self.kubelets.values():
            kubelet.wait_ready()

    def listen_addresses(self, node: str) -> tuple[str, str]:
        args = self.kubelets[node].containers[0].args
        health = flag_value(args, "health-address") or DEFAULT_HEALTH_ADDRESS
        return health, flag_value(args, "metrics-address") or DEFAULT_METRICS_ADDRESS

    def publish(self, node: str, config_text: str | bytes) -> None:
        data = {**self.stack.config_map["data"], CONFIG_MAP_KEY: config_text}
        self.kubelets[node].update_config_map(self._config_map_name, data)

    def roll_out(self, stack: SandboxStack | None, rollout: int) -> None:
        raise ValueError("roll_out runs on the process runtime only")


def agent_runtime(
    runtime: Runtime,
    lab: Lab,
    stack: SandboxStack,
    workdir: Path,
    *,
    backend: str | None,
    image: str | None,
    arch: str,
) -> AgentRuntime:
    """The named runtime for this stack, its inputs checked before any namespace is built."""
    if runtime == "process":
        return ProcessRuntime(lab, stack, workdir, backend=backend)
    if image is None or backend is not None:
        # The container runs the rendered args: a backend is chosen by rendering with it.
        raise ValueError("the container runtime needs an image and no backend override")
    return ContainerRuntime(lab, stack, workdir, image=image, arch=arch)
