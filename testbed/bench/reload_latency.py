"""Benchmark 3: a ConfigMap edit (kubelet's `..data` swap) until the new rule is in the kernel."""

import subprocess
import time
from pathlib import Path

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.commands import SubprocessRunner
from ip_masq_agent.contract import BACKEND_NFTABLES, CONFIG_FILE_NAME
from ip_masq_agent.nftables_payload import DEFAULT_TABLE
from ip_masq_agent.prefixes import Prefix
from testbed.bench.workload import backend, config_text, synthetic_cidrs
from testbed.kubelet.configmap_volume import ConfigMapVolume
from testbed.netlab import nft_live
from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.node_agent import agent_argv

BASE_CIDRS = 100
POLL_SECONDS = 0.005
GIVE_UP_SECONDS = 5.0


def run_reload_latency(
    lab: Lab, workdir: Path, *, backends: tuple[str, ...], edits: int
) -> list[dict[str, object]]:
    """The real agent process (Debian python3, as in the image), resyncInterval 60 s."""
    records: list[dict[str, object]] = []
    for name in backends:
        ns = lab.namespace(f"reload-{name.split('-')[-1]}")
        volume = ConfigMapVolume(workdir / name, key=CONFIG_FILE_NAME)
        base = synthetic_cidrs(BASE_CIDRS)
        volume.publish(config_text(base))
        # The agent's log goes to a file: a pipe nobody reads would fill and block the agent.
        with (workdir / f"agent-{name}.log").open("w") as log:
            agent = subprocess.Popen(
                [
                    *ns.prefix,
                    *agent_argv(
                        f"--backend={name}", f"--config={volume.path}", "--health-address="
                    ),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                text=True,
            )
        lab.processes.append(agent)  # killed with the lab if anything below fails
        view = backend(name, SubprocessRunner(ns.prefix))
        if not _wait_for(view, ns, base[-1]):
            raise RuntimeError(f"{name}: the agent did not write its first rules")
        for edit in range(edits):
            added = synthetic_cidrs(1, offset=BASE_CIDRS + edit)[0]
            started = time.perf_counter()
            volume.publish(config_text((*base, added)))
            live = _wait_for(view, ns, added)
            took = time.perf_counter() - started
            records.append({"backend": name, "edit": edit, "seconds": took if live else None})
            time.sleep(0.15)  # past the runner's 0.1 s minimum gap: edits are separate syncs
        agent.terminate()
        agent.wait(timeout=5)
        view.cleanup()
        print(f"  reload {name:>15}: {edits} edits", flush=True)
    return records


def _wait_for(view: Backend, ns: Namespace, cidr: Prefix) -> bool:
    """Poll until `cidr` is live (bounded by GIVE_UP_SECONDS): for nftables in the set the
    chain looks up (a new set is complete a moment before it is), else in the backend's view."""
    deadline = time.perf_counter() + GIVE_UP_SECONDS
    while time.perf_counter() < deadline:
        if view.name == BACKEND_NFTABLES:
            if nft_live.holds(ns, DEFAULT_TABLE, cidr):
                return True
        elif str(cidr) in view.observe():
            return True
        time.sleep(POLL_SECONDS)
    return False
