"""The shared preamble of a resource policy that judges only the agent's ConfigMap or DaemonSet.

Each such policy skips every other resource, names its subject the same way
(`ConfigMap kube-system/ip-masq-agent`), reports with no property path, and turns the values it
could not see during preview into one advisory after its known checks ran. The decorator does
that once; the policy body is only its checks.
"""

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pulumi_policy import ReportViolation, ResourceValidationArgs

from pulumi_ip_masq_agent.policy.kubernetes_objects import (
    describe,
    is_agent_configmap,
    is_agent_daemonset,
)
from pulumi_ip_masq_agent.policy.preview_unknowns import PreviewUnknowns

Report = Callable[[str], None]
# (subject, the resource's args, report one violation, the unknowns this run records).
AgentCheck = Callable[[str, ResourceValidationArgs, Report, PreviewUnknowns], None]
ResourceValidation = Callable[[ResourceValidationArgs, ReportViolation], None]

_RECOGNISE: dict[str, Callable[[str, Mapping[str, Any]], bool]] = {
    "ConfigMap": is_agent_configmap,
    "DaemonSet": is_agent_daemonset,
}


def agent_object_policy(
    kind: Literal["ConfigMap", "DaemonSet"],
) -> Callable[[AgentCheck], ResourceValidation]:
    """A resource validation that runs `check` on the agent's `kind` only."""
    recognise = _RECOGNISE[kind]

    def wrap(check: AgentCheck) -> ResourceValidation:
        @functools.wraps(check)
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if not recognise(args.resource_type, args.props):
                return
            subject = describe(kind, args.props, args.name)
            unknowns = PreviewUnknowns(subject)
            check(subject, args, lambda message: report_violation(message, None), unknowns)
            unknowns.raise_if_any()

        return validate

    return wrap
