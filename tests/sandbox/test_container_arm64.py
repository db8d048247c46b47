"""The arm64 image, emulated by qemu-user-static, run as a sandbox node runs the DaemonSet's pod.

`make image ARCH=arm64` builds it (once per session, through binfmt_misc). The node is labelled
kubernetes.io/arch=arm64, so the rendered affinity must admit it. qemu-user cannot emulate the
kernel interfaces iptables and nft use (netfilter netlink sockets and iptables' socket options
fail with "Protocol not supported"), so the image's own arm64 iptables and nft are checked at
build time only (rootfs.py: every library resolves). Here the agent itself runs as arm64 code
(the image's interpreter, PyYAML, prometheus-client, inotify, HTTP server) and the host's
netfilter tools are bind-mounted over the image's, as hostPath volumes added to the rendered
DaemonSet: its only change (its CPU limit stays: emulated, the agent is ready in about 16 s,
within the liveness probe's allowance). Then, as in the demo: the rules are written, /healthz
answers 200, and one probe per destination class is judged by the source address the far end
saw in the packets.
"""

import copy
import dataclasses
import os
import shutil
import time
from collections.abc import Mapping
from typing import Any

import pytest

from agent_image.build import SIZE_LIMIT, BuiltImage, build_image, image_size
from agent_image.podman import podman, podman_argv
from testbed.netlab.cluster_plan import plan_probes
from testbed.netlab.fetch import fetch
from testbed.netlab.nat_state import nat_fingerprint
from tests.conftest import image_unavailable
from tests.sandbox.conftest import SandboxFactory
from tests.sandbox.test_container import rendered_with
from tests.unavailable import cannot_run_here

pytestmark = pytest.mark.kernel

# The host's iptables-nft and nft with what they load, at the same paths in the container.
HOST_NETFILTER_TOOLS = {
    "/usr/sbin/xtables-nft-multi": "File",
    "/usr/sbin/nft": "File",
    "/usr/lib/x86_64-linux-gnu": "Directory",
    "/lib64/ld-linux-x86-64.so.2": "File",
}


@pytest.fixture(scope="session")
def arm64_image(kernel_available: None) -> BuiltImage:
    reason = image_unavailable() or (
        None if shutil.which("qemu-aarch64-static") else "qemu-user-static is not installed"
    )
    if reason is not None:
        cannot_run_here(reason)
    return build_image(lambda _line: None, "arm64")


def with_host_netfilter_tools(daemon_set: Mapping[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(dict(daemon_set))
    pod = changed["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for index, (path, kind) in enumerate(HOST_NETFILTER_TOOLS.items()):
        name = f"host-tool-{index}"
        pod["volumes"].append({"name": name, "hostPath": {"path": path, "type": kind}})
        container["volumeMounts"].append({"name": name, "mountPath": path, "readOnly": True})
    return changed


@pytest.mark.arm64
def test_the_arm64_agent_writes_rules_answers_health_and_nats_as_planned(
    make_sandbox: SandboxFactory, arm64_image: BuiltImage
) -> None:
    started = time.monotonic()
    shown = podman(
        podman_argv("image", "inspect", "--format", "{{.Architecture}}", arm64_image.image_id)
    )
    assert shown.stdout.strip() == "arm64"
    assert image_size(arm64_image.image_id) <= SIZE_LIMIT
    stack = rendered_with("iptables")
    emulated = dataclasses.replace(stack, daemon_set=with_host_netfilter_tools(stack.daemon_set))
    sandbox = make_sandbox(
        emulated, backend=None, nodes=1, runtime="container", image=arm64_image.image_id,
        arch="arm64", start=False,
    )  # fmt: skip
    kubelet = sandbox.kubelets["node0"]
    kubelet.start()
    kubelet.wait_ready(timeout=90)
    ready = time.monotonic() - started
    # The agent runs as arm64 code: the kernel handed the image's interpreter to qemu.
    runner = kubelet.containers[0]
    assert "qemu-aarch64" in os.readlink(f"/proc/{runner.pid()}/exe")
    node = sandbox.cluster.nodes["node0"]
    rules = nat_fingerprint(node, "iptables")
    assert ":IP-MASQ-AGENT" in rules and "-j MASQUERADE" in rules
    health = runner.spec.liveness
    assert health is not None
    status, body = fetch(node, f"http://127.0.0.1:{health.port}{health.path}")
    assert status == 200 and body.splitlines()[:2] == ["ok", "backend: iptables"]
    # One probe per destination class, from one pod: kept or masqueraded as the stack says.
    first = sandbox.plan.pods[0]
    probes = {p.target: p for p in plan_probes(sandbox.plan, ("tcp",)) if p.source == first}
    results = sandbox.cluster.run_probes(list(probes.values()))
    assert [(r.probe.target, r.probe.expected, r.seen) for r in results if not r.ok] == []
    assert {r.probe.expected for r in results} == {"kept", "masqueraded"} and len(results) >= 5
    print(
        f"arm64: ready after {ready:.0f} s, {len(results)} probes, "
        f"{time.monotonic() - started:.0f} s in all"
    )
