"""ip-masq-plan-fits-backend: the ConfigMap plans no more CIDRs than the stack's agents' backend
holds (`config_bounds.limit_for`, the agent's own limit: 50,000 on nftables, 20,000 otherwise).

A ConfigMap judged alone (ip-masq-config-valid) is held to the largest limit any backend has;
only here, beside the DaemonSets that read it, is the backend known.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy import ReportViolation, StackValidationArgs

from ip_masq_agent.config import AgentConfig, ConfigError
from ip_masq_agent.config_bounds import reject_large_plans
from ip_masq_agent.contract import BACKEND_AUTO
from pulumi_ip_masq_agent.policy.config_document import each_agent_config
from pulumi_ip_masq_agent.policy.force_masquerade_agent import OUR_AGENT_FLAG
from pulumi_ip_masq_agent.policy.gke_ranges import StackResource
from pulumi_ip_masq_agent.policy.kubernetes_objects import (
    describe,
    is_agent_daemonset,
    pod_containers,
)
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns
from pulumi_ip_masq_agent.policy.props import as_list, as_text

NAME: Final = "ip-masq-plan-fits-backend"


def agent_backend(props: Mapping[str, Any]) -> str | None:
    """The `--backend` our agent's container passes (its last, as the flag parser keeps);
    None when no container passes it (not our agent)."""
    backend = None
    for container in pod_containers(props):
        args = [as_text(arg) or "" for arg in as_list(container.get("args"))]
        for index, arg in enumerate(args):
            flag, equals, value = arg.partition("=")
            if flag == OUR_AGENT_FLAG:
                # `--backend=x` or `--backend x`; a bare last flag leaves the default.
                following = args[index + 1 : index + 2] or [BACKEND_AUTO]
                backend = value if equals else following[0]
    return backend


def _backends(
    resources: Sequence[StackResource], unknowns: PreviewUnknowns
) -> list[tuple[str, str]]:
    def described(resource: StackResource) -> tuple[str, str] | None:
        backend = agent_backend(resource.props)
        if backend is None:
            return None
        return describe("DaemonSet", resource.props, resource.name), backend

    return unknowns.read_each(
        resources, lambda r: is_agent_daemonset(r.resource_type, r.props), described
    )


def validate_plan_fits_backend(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Each agent ConfigMap within the limit of every backend our DaemonSets in the stack run."""
    unknowns = PreviewUnknowns("stack")

    def check(resource: StackResource, subject: str, config: AgentConfig) -> None:
        for daemon_set, backend in _backends(args.resources, unknowns):
            try:
                reject_large_plans(
                    config.non_masquerade_cidrs,
                    config.force_masquerade_cidrs,
                    f"{subject} data.config",
                    backend,
                )
            except ConfigError as err:
                report_violation(f"{err} ({daemon_set} runs --backend={backend})", resource.urn)

    each_agent_config(args.resources, unknowns, check)
    unknowns.raise_if_any()
