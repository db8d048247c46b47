"""End to end: each stack rendered, run on the sandbox with each backend, checked with packets."""

import dataclasses
import re
import subprocess

import pytest
import yaml

from testbed.netlab.cluster_plan import plan_probes
from testbed.sandbox.demo import run_demo
from testbed.sandbox.table import format_table
from tests.sandbox.conftest import SandboxFactory, rendered, sigterm_mid_demo

pytestmark = pytest.mark.kernel

STACKS = ("dev", "prod", "local")
# Both backends the DaemonSet can be told to use; the stack's own choice is overridden so
# that every stack runs on each.
BACKENDS = ("iptables", "nftables")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stack_name", STACKS)
def test_every_probe_sees_what_the_stack_says(
    make_sandbox: SandboxFactory, stack_name: str, backend: str
) -> None:
    stack = rendered(stack_name)
    sandbox = make_sandbox(stack, backend=backend)
    for agent in sandbox.agents.values():
        assert f"backend: {backend}" in agent.healthz()[1].splitlines()
    results = sandbox.cluster.run_probes(plan_probes(sandbox.plan))
    assert [r for r in results if not r.ok] == []

    def seen(prefix: str) -> set[str | None]:
        return {r.seen for r in results if r.probe.target.startswith(prefix)}

    pod_ips = {str(ip) for pod in sandbox.plan.pods for ip in (pod.ip4, pod.ip6) if ip}
    node_ips = {str(ip) for node in sandbox.plan.nodes for ip in (node.ip4, node.ip6) if ip}
    assert seen("pod ") <= pod_ips and any("other node" in r.probe.target for r in results)
    assert seen("service") <= pod_ips
    if stack.ranges.control_plane is not None:
        assert seen("control plane") and seen("control plane") <= pod_ips
    assert seen("internet") and seen("internet") <= node_ips
    if stack.ranges.dual_stack:
        assert seen("internet v6") <= {str(n.ip6) for n in sandbox.plan.nodes}


def root_namespace_network() -> dict[str, str]:
    """The host's links, addresses, routes and rules (read only): the demo must never touch them."""
    views = {
        "links": ["ip", "-brief", "link", "show"],
        "addresses": ["ip", "-brief", "address", "show"],
        "routes": ["ip", "route", "show", "table", "all"],
        "routes6": ["ip", "-6", "route", "show", "table", "all"],
        "rules": ["ip", "rule", "show"],
    }
    shown = {
        name: subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        for name, argv in views.items()
    }
    # Lifetimes of DHCP and router-advertised entries count down on their own.
    return {name: re.sub(r"expires \d+sec", "", text) for name, text in shown.items()}


def test_demo_runs_end_to_end_and_leaves_nothing(kernel_available: None) -> None:
    host_before = root_namespace_network()
    lines: list[str] = []
    status = run_demo("local", nodes=2, backend=None, say=lines.append)
    assert status == 0, "\n".join(lines)
    total = int(lines[-1].split("/")[1].split()[0])
    assert lines[-1] == f"{total}/{total} probes as expected"
    assert any("masqueraded -> kept after" in line for line in lines)
    token = next(line.split()[1].rstrip(":") for line in lines if line.startswith("sandbox "))
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert token not in left.stdout
    # No veth end, address, route or rule of the sandbox ever lands in the host's namespace.
    assert root_namespace_network() == host_before


def test_sigterm_mid_demo_removes_the_sandbox(kernel_available: None) -> None:
    demo = sigterm_mid_demo("--stack", "local", bound=120)
    assert demo.returncode == 130 and "sandbox removed" in demo.stderr
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert demo.token not in left.stdout


def test_a_config_missing_a_range_shows_up_as_wrong_probes(make_sandbox: SandboxFactory) -> None:
    stack = rendered("local")
    document = yaml.safe_load(stack.config_text)
    services = str(stack.ranges.services)
    document["nonMasqueradeCIDRs"].remove(services)
    broken = dataclasses.replace(stack, config_text=yaml.safe_dump(document))
    sandbox = make_sandbox(broken, backend="iptables")
    results = sandbox.cluster.run_probes(plan_probes(sandbox.plan))
    wrong = [r for r in results if not r.ok]
    assert wrong and {r.probe.target for r in wrong} == {"service"}
    node_ips = {str(node.ip4) for node in sandbox.plan.nodes}
    assert {r.seen for r in wrong} <= node_ips  # masqueraded where the stack said keep
    assert any("WRONG" in line for line in format_table(results))
