"""A rendered stack running in the lab: the cluster, a ConfigMap volume and an agent per node.

Two runtimes: `process` runs the agent from this checkout on Debian's python3 (quick, no
image); `container` runs the built image under the rendered DaemonSet's pod spec through the
sandbox kubelet (netlab.kubelet), as a node would.
"""

import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from ip_masq_agent.contract import CONFIG_MAP_KEY, DEFAULT_HEALTH_ADDRESS, DEFAULT_METRICS_ADDRESS
from netlab.cluster import Cluster
from netlab.cluster_plan import NodePlan, PlanError, plan_cluster
from netlab.configmap_volume import ConfigMapVolume
from netlab.kubelet import Kubelet, map_image
from netlab.lab import Lab
from netlab.node_agent import NodeAgent, flag_value
from netlab.pod_spec import PodSpec, parse_daemon_set
from sandbox.stack import SandboxStack

Runtime = Literal["process", "container"]
RUNTIMES: tuple[Runtime, ...] = ("process", "container")


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


class SandboxCluster:
    """Builds the stack's sandbox and runs the DaemonSet's agent on every node."""

    def __init__(
        self,
        lab: Lab,
        stack: SandboxStack,
        workdir: Path,
        *,
        nodes: int = 2,
        backend: str | None = None,
        runtime: Runtime = "process",
        image: str | None = None,
        arch: str = "amd64",
    ) -> None:
        self.lab = lab
        self.arch = arch  # the nodes' kubernetes.io/arch: the image's (arm64 runs emulated)
        self.stack = stack
        self.runtime = runtime
        self.workdir = workdir
        self.backend = backend
        self.rollouts = 0
        self.plan = plan_cluster(stack.ranges, nodes=nodes)
        self.volumes: dict[str, ConfigMapVolume] = {}
        self.agents: dict[str, NodeAgent] = {}
        self.kubelets: dict[str, Kubelet] = {}
        if runtime == "container":
            if image is None or backend is not None:
                # The container runs the rendered args: a backend is chosen by rendering with it.
                raise ValueError("the container runtime needs an image and no backend override")
            # Refused before anything is built: a field the kubelet cannot honour stops here.
            pod = parse_daemon_set(stack.daemon_set)
            for container in pod.containers:
                map_image(container.image, image)
            self.cluster = Cluster(lab, self.plan)
            self._kubelets(pod, workdir, image)
            return
        self.cluster = Cluster(lab, self.plan)
        for node in self.plan.nodes:
            volume = ConfigMapVolume(workdir / node.name / "etc-config")
            volume.publish(stack.config_text)
            self.volumes[node.name] = volume
            self.agents[node.name] = self._node_agent(node, stack, f"{node.name}-agent.log")

    def _node_agent(self, node: NodePlan, stack: SandboxStack, log: str) -> NodeAgent:
        """The DaemonSet's agent on this node, as kubelet runs it, reading the node's volume."""
        return NodeAgent(
            self.lab,
            self.cluster.nodes[node.name],
            self.volumes[node.name],
            stack.agent_args,
            log=self.workdir / log,
            backend=self.backend,
            env=node_env(stack, node),
        )

    def _kubelets(self, pod: PodSpec, workdir: Path, image: str) -> None:
        config_maps = {self.stack.config_map["metadata"]["name"]: self.stack.config_map["data"]}
        for node in self.plan.nodes:
            self.kubelets[node.name] = Kubelet(
                self.lab,
                self.cluster.nodes[node.name],
                node=node.name,
                pod_ip=str(node.ip4),  # hostNetwork: the pod's IP is the node's
                pod=pod,
                config_maps=config_maps,
                image=image,
                workdir=workdir,
                arch=self.arch,
            )

    def listen_addresses(self, node: str) -> tuple[str, str]:
        """Where this node's agent serves health and metrics: (health, metrics) addresses."""
        if node in self.agents:
            return self.agents[node].health_address, self.agents[node].metrics_address
        args = self.kubelets[node].containers[0].args
        health = flag_value(args, "health-address") or DEFAULT_HEALTH_ADDRESS
        return health, flag_value(args, "metrics-address") or DEFAULT_METRICS_ADDRESS

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.plan.nodes]

    def start_agents(self) -> None:
        for agent in self.agents.values():
            agent.start()
        for kubelet in self.kubelets.values():
            kubelet.start()
        for agent in self.agents.values():
            agent.wait_ready()
        for kubelet in self.kubelets.values():
            kubelet.wait_ready()

    def roll_out(self, stack: SandboxStack | None) -> None:
        """A `pulumi up` that changes the DaemonSet, rolled out as its RollingUpdate
        (maxUnavailable 1) does: node by node the old pod stops (SIGTERM: its rules stay), the
        new one starts and must be Ready before the next node. None: the DaemonSet is deleted
        (every pod stops; the ConfigMap stays). Process runtime only."""
        if self.runtime != "process":
            raise ValueError("roll_out runs on the process runtime only")
        self.rollouts += 1
        for node in self.plan.nodes:
            old = self.agents.pop(node.name, None)
            if old is not None:
                old.kill(signal.SIGTERM)
            if stack is None:
                continue
            self.volumes[node.name].publish(stack.config_text)
            agent = self._node_agent(node, stack, f"{node.name}-rollout{self.rollouts}-agent.log")
            agent.start()
            agent.wait_ready()
            self.agents[node.name] = agent
        if stack is not None:
            self.stack = stack

    def publish(self, config_text: str | bytes, nodes: Iterable[str] | None = None) -> None:
        """Swap the mounted ConfigMap data on these nodes (all by default), kubelet-style."""
        for name in nodes if nodes is not None else self.node_names:
            if name in self.kubelets:
                name_of_map = self.stack.config_map["metadata"]["name"]
                data = {**self.stack.config_map["data"], CONFIG_MAP_KEY: config_text}
                self.kubelets[name].update_config_map(name_of_map, data)
            else:
                self.volumes[name].publish(config_text)
