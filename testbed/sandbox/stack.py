"""A stack as the sandbox needs it: rendered by the real program, plus the ranges it declares."""

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_ip_masq_agent.settings import PROJECT, Settings, parse_settings
from testbed.harness.offline import RenderResult, load_stack_config, render_stack
from testbed.netlab.cluster_plan import Network, PlanError, StackRanges

EXTRAS_KEY = f"{PROJECT}:extraNonMasqueradeCidrs"
BACKEND_KEY = f"{PROJECT}:backend"
RESYNC_KEY = f"{PROJECT}:resyncInterval"


@dataclass(frozen=True)
class SandboxStack:
    """What the DaemonSet and ConfigMap of a rendered stack carry, and the stack's ranges."""

    name: str
    config_text: str  # ConfigMap kube-system/ip-masq-agent, key `config`
    agent_args: tuple[str, ...]  # the DaemonSet container's args
    ranges: StackRanges
    non_masquerade_cidrs: tuple[str, ...]  # the program's export, for display
    overrides: tuple[tuple[str, str], ...] = ()  # config keys set on top of the stack file
    # The container's env from the downward API: (name, fieldPath), resolved per node.
    agent_env: tuple[tuple[str, str], ...] = ()
    # The rendered objects themselves, for the container runtime's kubelet.
    daemon_set: Mapping[str, Any] = field(default_factory=dict, compare=False)
    config_map: Mapping[str, Any] = field(default_factory=dict, compare=False)


def _one(result: RenderResult, type_token: str, name: str) -> dict[str, Any]:
    found = [
        r.inputs
        for r in result.of_type(type_token)
        if (r.inputs.get("metadata") or {}).get("name") == name
    ]
    if len(found) != 1:
        raise PlanError(f"stack {result.stack}: want one {type_token} {name!r}, got {len(found)}")
    return found[0]


def _daemon_set(result: RenderResult) -> dict[str, Any]:
    daemon_sets = result.of_type("kubernetes:apps/v1:DaemonSet")
    if len(daemon_sets) != 1:
        raise PlanError(
            f"stack {result.stack}: the sandbox runs the agent DaemonSet, "
            f"but the render has {len(daemon_sets)} (platform other than gke-standard?)"
        )
    return daemon_sets[0].inputs


def _agent_container(daemon_set: Mapping[str, Any]) -> dict[str, Any]:
    containers = daemon_set["spec"]["template"]["spec"]["containers"]
    agent: dict[str, Any] = next(c for c in containers if c["name"] == "ip-masq-agent")
    return agent


def _daemon_set_args(daemon_set: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(a) for a in _agent_container(daemon_set).get("args") or ())


def _daemon_set_env(
    result: RenderResult, daemon_set: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    env = []
    for variable in _agent_container(daemon_set).get("env") or ():
        field_path = ((variable.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if field_path is None:
            raise PlanError(
                f"stack {result.stack}: env {variable.get('name')!r} is not from the downward "
                "API, which is all the sandbox resolves"
            )
        env.append((str(variable["name"]), str(field_path)))
    return tuple(env)


def ranges_from_settings(settings: Settings) -> StackRanges:
    """The ranges the sandbox is built from; an adopted subnet has none in config."""
    if settings.subnet_cidr is None or settings.pods_cidr is None:
        raise PlanError(
            "the sandbox needs subnetCidr and podsCidr in the stack config "
            "(an adopted existingSubnet's ranges are only known live)"
        )

    def v4(text: str | None) -> ipaddress.IPv4Network | None:
        return None if text is None else ipaddress.IPv4Network(text)

    nodes, pods = v4(settings.subnet_cidr), v4(settings.pods_cidr)
    assert nodes is not None and pods is not None
    kept: list[Network] = [ipaddress.ip_network(c) for c in settings.extra_non_masquerade_cidrs]
    return StackRanges(
        nodes=nodes,
        pods=pods,
        services=v4(settings.services_cidr),
        control_plane=v4(settings.control_plane_cidr),
        additional_pods=tuple(ipaddress.IPv4Network(c) for c in settings.additional_pods_cidrs),
        extras=tuple(kept),
        ula6=None
        if settings.ipv6_ula_range is None
        else ipaddress.IPv6Network(settings.ipv6_ula_range),
        masq_link_local=settings.masq_link_local,
    )


def stack_config(
    stack: str, *, extra_cidrs: Sequence[str] = (), overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The stack file's config, with extra CIDRs appended to its extras and keys overridden."""
    config = load_stack_config(stack)
    config.update(overrides or {})
    if extra_cidrs:
        extras = json.loads(config.get(EXTRAS_KEY) or "[]")
        config[EXTRAS_KEY] = json.dumps([*extras, *extra_cidrs])
    return config


def render_sandbox_stack(
    stack: str, *, extra_cidrs: Sequence[str] = (), overrides: Mapping[str, str] | None = None
) -> SandboxStack:
    """Render the stack with the real program; take the agent's inputs and the ranges from it."""
    config = stack_config(stack, extra_cidrs=extra_cidrs, overrides=overrides)
    result = render_stack(stack, config=config)
    config_map = _one(result, "kubernetes:core/v1:ConfigMap", "ip-masq-agent")
    raw = {k.removeprefix(f"{PROJECT}:"): v for k, v in config.items() if k.startswith(PROJECT)}
    gcp = {k.removeprefix("gcp:"): v for k, v in config.items() if k.startswith("gcp:")}
    cidrs = result.outputs.get("nonMasqueradeCidrs") or []
    daemon_set = _daemon_set(result)
    return SandboxStack(
        name=stack,
        config_text=str(config_map["data"]["config"]),
        agent_args=_daemon_set_args(daemon_set),
        agent_env=_daemon_set_env(result, daemon_set),
        ranges=ranges_from_settings(parse_settings(raw, gcp=gcp)),
        non_masquerade_cidrs=tuple(str(c) for c in cidrs),
        overrides=tuple(sorted((overrides or {}).items())),
        daemon_set=daemon_set,
        config_map=config_map,
    )
