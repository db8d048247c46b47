"""A rendered stack running in the lab: the cluster, a ConfigMap volume and an agent per node.

How each node runs its agent (a process from this checkout, or the built image under the
rendered pod spec) is the runtime's (testbed.runtimes); this module wires plan, cluster and
runtime together.
"""

from collections.abc import Iterable
from pathlib import Path

from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.kubelet.kubelet import Kubelet
from testbed.netlab.cluster import Cluster
from testbed.netlab.cluster_plan import plan_cluster
from testbed.netlab.lab import Lab
from testbed.netlab.node_agent import NodeAgent
from testbed.runtimes import ContainerRuntime, ProcessRuntime, Runtime, agent_runtime
from testbed.sandbox.stack import SandboxStack


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
        self.stack = stack
        self.workdir = workdir
        self.backend = backend
        self.rollouts = 0
        self.plan = plan_cluster(stack.ranges, nodes=nodes)
        # Checked before any namespace is built: a runtime refused leaves nothing behind.
        self.runtime = agent_runtime(
            runtime, lab, stack, workdir, backend=backend, image=image, arch=arch
        )
        self.cluster = Cluster(lab, self.plan)
        self.runtime.place(self.cluster, self.plan.nodes)

    # The runtimes' own handles, for tests that drive one node's agent directly: empty when the
    # sandbox runs the other runtime.
    @property
    def agents(self) -> dict[str, NodeAgent]:
        return self.runtime.agents if isinstance(self.runtime, ProcessRuntime) else {}

    @property
    def volumes(self) -> dict[str, ConfigMapVolume]:
        return self.runtime.volumes if isinstance(self.runtime, ProcessRuntime) else {}

    @property
    def kubelets(self) -> dict[str, Kubelet]:
        return self.runtime.kubelets if isinstance(self.runtime, ContainerRuntime) else {}

    def listen_addresses(self, node: str) -> tuple[str, str]:
        """Where this node's agent serves health and metrics: (health, metrics) addresses."""
        return self.runtime.listen_addresses(node)

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.plan.nodes]

    def start_agents(self) -> None:
        self.runtime.start()

    def roll_out(self, stack: SandboxStack | None) -> None:
        """A `pulumi up` that changes the DaemonSet, rolled out as its RollingUpdate
        (maxUnavailable 1) does: node by node the old pod stops (SIGTERM: its rules stay), the
        new one starts and must be Ready before the next node. None: the DaemonSet is deleted
        (every pod stops; the ConfigMap stays). Process runtime only."""
        self.runtime.roll_out(stack, self.rollouts + 1)
        self.rollouts += 1
        if stack is not None:
            self.stack = stack

    def publish(self, config_text: str | bytes, nodes: Iterable[str] | None = None) -> None:
        """Swap the mounted ConfigMap data on these nodes (all by default), kubelet-style."""
        for name in nodes if nodes is not None else self.node_names:
            self.runtime.publish(name, config_text)
