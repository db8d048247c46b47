"""The sandbox kubelet's pure parts: volume projection, podman flags, probe URLs."""

import re
import stat
from pathlib import Path

import pytest

from testbed.kubelet.kubelet import (
    admit,
    container_args,
    container_run_flags,
    pod_fields,
    prepare_host_path,
    probe_url,
    project_config_map,
)
from testbed.kubelet.pod_spec import (
    ConfigMapSource,
    HostPathSource,
    PodSpecError,
    parse_daemon_set,
    resolve_env,
)
from tests.testbed.test_pod_spec import CONTAINER, changed, daemon_set


def test_the_rendered_pod_becomes_these_podman_flags(tmp_path: Path) -> None:
    pod = parse_daemon_set(daemon_set("local"))
    dirs = {name: tmp_path / name for name, _ in pod.volumes}
    flags = container_run_flags(pod.containers[0], pod, volume_dirs=dirs)
    assert flags == [
        "--cap-drop=ALL",
        "--cap-add=NET_ADMIN",
        "--cap-add=NET_RAW",
        "--read-only",
        "--read-only-tmpfs=false",
        "--security-opt=no-new-privileges",
        "--user=0",
        "--cpus=1",
        f"--memory={160 * 2**20}b",
        f"--volume={tmp_path / 'config'}:/etc/config:ro",
        "--volume=/run/xtables.lock:/run/xtables.lock:rw",
        "--mount=type=tmpfs,destination=/tmp,rw",
    ]


def test_command_replaces_the_entrypoint_and_unconfined_drops_seccomp(tmp_path: Path) -> None:
    obj = changed(f"{CONTAINER}.command", ["/ip-masq-agent"])
    obj["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]["type"] = "Unconfined"
    pod = parse_daemon_set(obj)
    flags = container_run_flags(pod.containers[0], pod, volume_dirs={"config": tmp_path})
    assert '--entrypoint=["/ip-masq-agent"]' in flags
    assert "--security-opt=seccomp=unconfined" in flags


def test_a_configmap_mount_is_read_only_even_if_the_mount_says_not(tmp_path: Path) -> None:
    pod = parse_daemon_set(changed(f"{CONTAINER}.volumeMounts[0].readOnly", False))
    flags = container_run_flags(pod.containers[0], pod, volume_dirs={"config": tmp_path})
    assert f"--volume={tmp_path}:/etc/config:ro" in flags


def test_probes_go_to_the_pod_ip_unless_the_spec_names_a_host() -> None:
    http_get = {"path": "/healthz", "port": 10261}
    pod = parse_daemon_set(changed(f"{CONTAINER}.livenessProbe.httpGet", http_get))
    liveness = pod.containers[0].liveness
    assert liveness is not None
    assert probe_url(liveness, "172.18.0.2") == "http://172.18.0.2:10261/healthz"
    hosted = parse_daemon_set(changed(f"{CONTAINER}.livenessProbe.httpGet.host", "127.0.0.1"))
    liveness = hosted.containers[0].liveness
    assert liveness is not None
    assert probe_url(liveness, "172.18.0.2") == "http://127.0.0.1:10261/healthz"


def test_items_project_only_their_keys_under_their_paths() -> None:
    source = ConfigMapSource("ip-masq-agent", (("config", "ip-masq-agent"),), optional=True)
    data = {"config": "a: 1\n", "other": "b"}
    assert project_config_map(source, data) == {"ip-masq-agent": b"a: 1\n"}
    assert project_config_map(source, None) == {}  # optional and gone: an empty volume
    everything = ConfigMapSource("m", None, optional=False)
    assert project_config_map(everything, data) == {"config": b"a: 1\n", "other": b"b"}
    with pytest.raises(PodSpecError, match="'m': not found"):
        project_config_map(everything, None)
    with pytest.raises(PodSpecError, match="no key 'config'"):
        project_config_map(ConfigMapSource("m", (("config", "x"),), False), {"other": "b"})


def test_host_path_types_are_checked_and_created(tmp_path: Path) -> None:
    lock = tmp_path / "run" / "xtables.lock"
    prepare_host_path(HostPathSource(str(lock), "FileOrCreate"))
    assert lock.is_file() and stat.S_IMODE(lock.stat().st_mode) == 0o644
    prepare_host_path(HostPathSource(str(lock), "File"))
    made = tmp_path / "made"
    prepare_host_path(HostPathSource(str(made), "DirectoryOrCreate"))
    assert made.is_dir()
    with pytest.raises(PodSpecError, match="not a Directory"):
        prepare_host_path(HostPathSource(str(lock), "Directory"))
    with pytest.raises(PodSpecError, match="does not exist"):
        prepare_host_path(HostPathSource(str(tmp_path / "missing"), "File"))


def test_the_node_selector_is_checked_at_admission() -> None:
    pod = parse_daemon_set(daemon_set("local"))
    admit(pod, "node0")
    windows = parse_daemon_set(
        changed("spec.template.spec.nodeSelector", {"kubernetes.io/os": "windows"})
    )
    with pytest.raises(
        PodSpecError, match=re.escape("kubernetes.io/os=windows: node node0 has 'linux'")
    ):
        admit(windows, "node0")


def test_the_rendered_affinity_admits_amd64_and_arm64_nodes_only() -> None:
    pod = parse_daemon_set(daemon_set("local"))
    ((requirement,),) = pod.node_affinity
    assert (requirement.key, requirement.operator) == ("kubernetes.io/arch", "In")
    assert requirement.values == ("amd64", "arm64")
    admit(pod, "node0", "amd64")
    admit(pod, "node0", "arm64")
    with pytest.raises(PodSpecError, match=r"nodeAffinity: node node0 .* matches no"):
        admit(pod, "node0", "s390x")
    exists = {"matchExpressions": [{"key": "x", "operator": "Exists"}]}
    with pytest.raises(PodSpecError, match="'Exists' not implemented by the sandbox kubelet"):
        parse_daemon_set(
            changed(
                "spec.template.spec.affinity",
                {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [exists]}}},
            )
        )  # fmt: skip
    with pytest.raises(PodSpecError, match="podAntiAffinity: not implemented"):
        parse_daemon_set(changed("spec.template.spec.affinity", {"podAntiAffinity": {}}))


def test_the_metrics_address_is_the_nodes_as_the_downward_api_gives_it() -> None:
    pod = parse_daemon_set(daemon_set("prod"))
    (container,) = pod.containers
    env = resolve_env(container, pod_fields(pod, "node0", "172.18.0.2"))
    assert env == {"NODE_IP": "172.18.0.2"}
    assert "--metrics-address=172.18.0.2:10262" in container_args(container, env)
    flags = container_run_flags(container, pod, volume_dirs={"config": Path("/c")}, env=env)
    assert flags[0] == "--env=NODE_IP=172.18.0.2"
