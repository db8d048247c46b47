"""A rendered stack running in the lab: the cluster, a ConfigMap volume and an agent per node."""

from collections.abc import Iterable
from pathlib import Path

from netlab.cluster import Cluster
from netlab.cluster_plan import NodePlan, PlanError, plan_cluster
from netlab.configmap_volume import ConfigMapVolume
from netlab.lab import Lab
from netlab.node_agent import NodeAgent
from sandbox.stack import SandboxStack


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
    ) -> None:
        self.lab = lab
        self.stack = stack
        self.plan = plan_cluster(stack.ranges, nodes=nodes)
        self.cluster = Cluster(lab, self.plan)
        self.volumes: dict[str, ConfigMapVolume] = {}
        self.agents: dict[str, NodeAgent] = {}
        for node in self.plan.nodes:
            volume = ConfigMapVolume(workdir / node.name / "etc-config")
            volume.publish(stack.config_text)
            self.volumes[node.name] = volume
            self.agents[node.name] = NodeAgent(
                lab,
                self.cluster.nodes[node.name],
                volume,
                stack.agent_args,
                log=workdir / f"{node.name}-agent.log",
                backend=backend,
                env=node_env(stack, node),
            )

    def start_agents(self) -> None:
        for agent in self.agents.values():
            agent.start()
        for agent in self.agents.values():
            agent.wait_ready()

    def publish(self, config_text: str | bytes, nodes: Iterable[str] | None = None) -> None:
        """Swap the mounted ConfigMap data on these nodes (all by default), kubelet-style."""
        for name in nodes if nodes is not None else self.volumes:
            self.volumes[name].publish(config_text)
