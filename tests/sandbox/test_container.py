"""The image, run as the rendered DaemonSet runs it: by the sandbox kubelet, on sandbox nodes."""

import dataclasses
import functools
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from agent_image.build import BuiltImage
from agent_image.podman import podman, podman_argv
from ip_masq_agent.contract import DEFAULT_NFT_TABLE
from ip_masq_agent.prefixes import Prefix
from testbed.kubelet.kubelet import ContainerRunner, leftover_containers
from testbed.kubelet.pod_spec import PodSpecError
from testbed.netlab.lab import REPO_ROOT, Lab
from testbed.netlab.nat_state import nat_fingerprint
from testbed.netlab.nft_live import holds
from testbed.sandbox.cluster_agents import SandboxCluster
from testbed.sandbox.demo import run_demo
from testbed.sandbox.stack import BACKEND_KEY, SandboxStack, render_sandbox_stack
from tests.sandbox.conftest import SandboxFactory, sigterm_mid_demo
from tests.sandbox.watch import PacketWatch, as_planned, new_peer_kept

pytestmark = pytest.mark.kernel

BACKENDS = ("iptables", "nftables")
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@functools.cache
def rendered_with(backend: str, extra_cidrs: tuple[str, ...] = ()) -> SandboxStack:
    """The local stack rendered with this backend: the DaemonSet itself carries it."""
    return render_sandbox_stack("local", extra_cidrs=extra_cidrs, overrides={BACKEND_KEY: backend})


def with_quick_probes(stack: SandboxStack) -> SandboxStack:
    """The stack with the liveness and readiness probes every 2 s and 1 s, and a 2 s grace.

    The rendered periods (10 s, 5 s; 30 s grace) are asserted in tests/testbed/test_pod_spec.py;
    a restart test that waits them out proves nothing more and waits a minute longer. Each
    probe's path, port, timeout and failure threshold stay as rendered.
    """
    daemon_set = dict(stack.daemon_set)
    template = dict(daemon_set["spec"]["template"])
    (container,) = template["spec"]["containers"]
    container = {
        **container,
        "livenessProbe": {**container["livenessProbe"], "periodSeconds": 2},
        "readinessProbe": {**container["readinessProbe"], "periodSeconds": 1},
    }
    template["spec"] = {
        **template["spec"],
        "containers": [container],
        "terminationGracePeriodSeconds": 2,
    }
    daemon_set["spec"] = {**daemon_set["spec"], "template": template}
    return dataclasses.replace(stack, daemon_set=daemon_set)


def start_containers(
    make_sandbox: SandboxFactory, image: BuiltImage, stack: SandboxStack, nodes: int = 1
) -> SandboxCluster:
    return make_sandbox(stack, backend=None, nodes=nodes, runtime="container", image=image.image_id)


def exec_in(runner: ContainerRunner, *argv: str) -> subprocess.CompletedProcess[str]:
    return podman(podman_argv("exec", runner.name, *argv), check=False)


def python_in(runner: ContainerRunner, code: str) -> subprocess.CompletedProcess[str]:
    """The image has no shell nor coreutils: its own Python looks around instead."""
    return exec_in(runner, "/usr/bin/python3", "-s", "-c", code)


def exists_in(runner: ContainerRunner, path: str) -> bool:
    found = python_in(runner, f"import os, sys; sys.exit(0 if os.path.lexists({path!r}) else 3)")
    assert found.returncode in (0, 3), found.stderr
    return found.returncode == 0


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def test_the_container_has_exactly_what_the_daemon_set_grants(
    make_sandbox: SandboxFactory, agent_image: BuiltImage
) -> None:
    stack = rendered_with("iptables")
    sandbox = start_containers(make_sandbox, agent_image, stack)
    runner = sandbox.kubelets["node0"].containers[0]
    pid = runner.pid()
    status = proc_status(pid)
    want = f"{(1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW):016x}"
    assert (status["CapEff"], status["CapPrm"], status["CapBnd"]) == (want, want, want)
    assert status["CapInh"] == status["CapAmb"] == f"{0:016x}"
    assert status["NoNewPrivs"] == "1"  # allowPrivilegeEscalation: false
    assert status["Seccomp"] == "2"  # RuntimeDefault: a filter is installed
    assert status["Uid"].split()[:2] == ["0", "0"]  # runAsUser: 0
    # readOnlyRootFilesystem: / refuses a write, /tmp (the emptyDir, a tmpfs) takes one.
    wrote_root = python_in(runner, "open('/written', 'w')")
    assert wrote_root.returncode != 0 and "Read-only file system" in wrote_root.stderr
    assert python_in(runner, "open('/tmp/written', 'w')").returncode == 0
    mounts = python_in(runner, "print(open('/proc/self/mounts').read())").stdout.splitlines()
    tmp_mount = next(line.split() for line in mounts if line.split()[1] == "/tmp")
    assert tmp_mount[2] == "tmpfs"  # emptyDir medium: Memory
    config_mount = next(line.split() for line in mounts if line.split()[1] == "/etc/config")
    assert "ro" in config_mount[3].split(",")
    assert python_in(runner, "open('/etc/config/written', 'w')").returncode != 0
    read_link = "import os; print(os.readlink('/etc/config/ip-masq-agent'))"
    link = python_in(runner, read_link).stdout.strip()
    assert link == "..data/ip-masq-agent"  # the kubelet-style projection
    # automountServiceAccountToken: false: no token path at all.
    assert not exists_in(runner, TOKEN_DIR) and not exists_in(runner, "/run/secrets")
    # The agent from the image, not from this checkout.
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    daemon_args = stack.daemon_set["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a.decode() for a in cmdline] == [
        "/usr/bin/python3",
        "-s",
        "-m",
        "ip_masq_agent",
        *daemon_args,
    ]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(e.startswith(b"PYTHONPATH=") for e in environ)
    assert not exists_in(runner, str(REPO_ROOT))
    # No shell, and the CLI (`ip-masq-agent cleanup`, upstream's /ip-masq-agent) needs none.
    assert not exists_in(runner, "/bin/sh") and not exists_in(runner, "/usr/bin/apt-get")
    for program in ("ip-masq-agent", "/ip-masq-agent"):
        rendered = exec_in(runner, program, "render", "--backend=nftables", "--config=/none")
        assert rendered.returncode == 0 and "table inet ip-masq-agent" in rendered.stdout
    imported = exec_in(
        runner,
        "/usr/bin/python3",
        "-s",
        "-c",
        "import ip_masq_agent; print(ip_masq_agent.__file__)",
    )
    assert imported.stdout.strip() == "/usr/lib/python3/dist-packages/ip_masq_agent/__init__.py"
    in_image = Path(f"/proc/{pid}/root/usr/lib/python3/dist-packages/ip_masq_agent/cli.py")
    checkout = REPO_ROOT / "agent_image/src/ip_masq_agent/cli.py"
    assert in_image.read_bytes() == checkout.read_bytes()  # built from this tree
    # And it did its job in the node's namespace, with only those capabilities.
    node = sandbox.cluster.nodes["node0"]
    assert ":IP-MASQ-AGENT" in nat_fingerprint(node, "iptables")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_demo_in_containers_sees_every_probe_as_the_stack_says(
    agent_image: BuiltImage, backend: str
) -> None:
    lines: list[str] = []
    status = run_demo(
        "local",
        nodes=2,
        backend=backend,
        runtime="container",
        image=agent_image.image_id,
        say=lines.append,
    )
    assert status == 0, "\n".join(lines)
    total = int(lines[-1].split("/")[1].split()[0])
    assert total > 40 and lines[-1] == f"{total}/{total} probes as expected"
    assert any(f"--backend={backend}" in line for line in lines if "agent args" in line)
    assert sum("masqueraded -> kept after" in line and line.endswith("ok") for line in lines) == 2
    token = next(line.split()[1].rstrip(":") for line in lines if line.startswith("sandbox "))
    assert leftover_containers(token) == []
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert token not in left.stdout


def test_a_stopped_agent_is_restarted_by_liveness_and_the_rules_stay(
    make_sandbox: SandboxFactory, agent_image: BuiltImage, tmp_path: Path
) -> None:
    stack = with_quick_probes(rendered_with("nftables"))
    sandbox = start_containers(make_sandbox, agent_image, stack)
    kubelet = sandbox.kubelets["node0"]
    runner = kubelet.containers[0]
    probe = runner.spec.liveness
    assert runner.liveness is not None and probe is not None
    watch = PacketWatch(sandbox, tmp_path, duration=150)
    watch.wait_rounds(2)
    rules_before = nat_fingerprint(sandbox.cluster.nodes["node0"], "nftables")
    # The kubelet's own probes must have seen the agent live first: failures count from here.
    readiness, startup = runner.readiness, runner.startup
    assert readiness is not None and startup is not None
    deadline = time.monotonic() + probe.period_seconds + probe.timeout_seconds + 5
    while not (runner.liveness.ok and readiness.ok) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runner.liveness.ok and readiness.ok, (runner.liveness.history, readiness.history)
    # A normal start logs no probe failure: the startup probe's first look already succeeds,
    # and it holds the other two back until then.
    assert [status for _, status in startup.history] == [200], startup.history
    started_at = startup.history[0][0]
    assert all(at >= started_at for at, _ in runner.liveness.history + readiness.history)
    assert {status for _, status in runner.liveness.history + readiness.history} == {200}
    first = runner.name
    stopped_at = time.time()
    os.kill(runner.pid(), signal.SIGSTOP)
    # While it is stopped, the ConfigMap gains the new peer: only a live agent can apply that.
    peer = str(sandbox.plan.new_peer)
    sandbox.publish(rendered_with("nftables", (peer,)).config_text)
    grace = kubelet.pod.termination_grace_seconds
    bound = probe.period_seconds * (probe.failure_threshold + 1) + grace + 30
    deadline = time.monotonic() + bound
    while runner.restart_count == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert runner.restart_count == 1, runner.events
    restarted_at = time.time()
    failures = [s for at, s in runner.liveness.history if stopped_at <= at <= restarted_at]
    assert failures == [0] * probe.failure_threshold, runner.liveness.history
    assert any(f"liveness failed {probe.failure_threshold} times" in e for e in runner.events)
    # kubelet's readiness probe failed alongside (the pod left its Service's endpoints).
    # (A probe already answered when the agent stopped may be recorded just after: skip it.)
    window = [s for at, s in readiness.history if stopped_at <= at <= restarted_at]
    assert window[window.index(0) :][:3] == [0] * 3 and set(window[: window.index(0)]) <= {200}
    assert runner.name != first and f"exited {first}" in runner.events
    kubelet.wait_ready()
    converged = time.time()
    watch.wait_rounds(3)
    watch.stop()
    # Stopped, killed and restarted: the kernel held the old rules throughout (the new peer
    # still masqueraded, everything else as planned) until the new instance was launched, and
    # the restarted agent applied the new.
    relaunched_at = runner.launched_at[1]
    assert stopped_at < relaunched_at <= restarted_at, (stopped_at, runner.launched_at)
    assert watch.violations(as_planned, since=stopped_at, until=relaunched_at) == []
    assert watch.violations(new_peer_kept, since=converged) == []
    node = sandbox.cluster.nodes["node0"]
    rules_after = nat_fingerprint(node, "nftables")
    # The fingerprint is `nft -j` (a prefix is an address and a length there): the new peer
    # is asked of the set the chain looks up.
    assert peer == "198.51.100.0/24" and rules_after != rules_before
    assert holds(node, DEFAULT_NFT_TABLE, Prefix.parse(peer)), rules_after


def test_a_daemon_set_field_the_kubelet_does_not_implement_is_refused(
    lab: Lab, tmp_path: Path, agent_image: BuiltImage
) -> None:
    stack = rendered_with("iptables")
    daemon_set = dict(stack.daemon_set)
    template = dict(daemon_set["spec"]["template"])
    template["spec"] = {**template["spec"], "shareProcessNamespace": True}
    daemon_set["spec"] = {**daemon_set["spec"], "template": template}
    broken = dataclasses.replace(stack, daemon_set=daemon_set)
    with pytest.raises(PodSpecError) as refused:
        SandboxCluster(lab, broken, tmp_path, runtime="container", image=agent_image.image_id)
    assert str(refused.value) == (
        "DaemonSet.spec.template.spec.shareProcessNamespace: not implemented by the sandbox kubelet"
    )
    assert lab.namespaces == [] and leftover_containers(lab.token) == []


def test_sigterm_mid_container_demo_removes_the_containers_too(agent_image: BuiltImage) -> None:
    demo = sigterm_mid_demo(
        "--stack", "local", "--runtime", "container", on_ready=leftover_containers
    )
    assert demo.while_running  # they ran, so their removal below means something
    assert demo.returncode == 130 and "sandbox removed" in demo.stderr
    assert leftover_containers(demo.token) == []
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert demo.token not in left.stdout
