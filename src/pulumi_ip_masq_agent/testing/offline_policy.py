"""Run the pack's policies over a render's resources, as `pulumi preview --policy-pack` would."""

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from inspect import isawaitable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from pulumi_ip_masq_agent.policy.pack import POLICIES
from pulumi_ip_masq_agent.testing.render_result import RenderResult, is_unknown


@dataclass(frozen=True)
class Resource:
    """One registered resource: its type token, logical name and inputs (camelCase)."""

    resource_type: str
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    """One policy result as `pulumi preview` would show it."""

    policy: str
    enforcement: EnforcementLevel
    resource: str
    message: str


def urn_of(stack: str, project: str, resource: Resource) -> str:
    """The URN the engine would give a top-level resource (what `pulumi preview` prints)."""
    return f"urn:pulumi:{stack}::{project}::{resource.resource_type}::{resource.name}"


def enforcement_of(policy: Policy, config: Mapping[str, Any]) -> EnforcementLevel:
    """The level `--policy-pack-config` would give: per policy, then `all`, then the default."""
    for key in (policy.name, "all"):
        entry = config.get(key)
        level = entry.get("enforcementLevel") if isinstance(entry, Mapping) else entry
        if isinstance(level, str):
            return EnforcementLevel(level)
    return policy.enforcement_level or EnforcementLevel.ADVISORY


def policy_settings(policy: Policy, config: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's own config: schema defaults overlaid with the config file's values."""
    schema = policy.config_schema.properties if policy.config_schema else {}
    values = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
    entry = config.get(policy.name)
    if isinstance(entry, Mapping):
        values.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    return values


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _proxied(props: Mapping[str, Any]) -> Mapping[str, Any]:
    # The same wrapper the engine uses, so preview-unknown sentinels raise as they would there.
    return unknown_checking_proxy(copy.deepcopy(dict(props)))


class _Run:
    """One policy's run: collects what it reports, and what it could not check."""

    def __init__(self, policy: Policy, level: EnforcementLevel) -> None:
        self.policy = policy
        self.level = level
        self.findings: list[Finding] = []

    def reporter(self, subject: str) -> ReportViolation:
        def report(message: str, urn: str | None = None) -> None:
            self.findings.append(Finding(self.policy.name, self.level, urn or subject, message))

        return report

    def call(self, subject: str, validate: Callable[[ReportViolation], Any]) -> None:
        try:
            if isawaitable(validate(self.reporter(subject))):
                raise TypeError(f"policy {self.policy.name}: async validators are not supported")
        except UnknownValueError as err:
            # As the engine does: an unknown value makes an advisory, never a pass.
            advisory = EnforcementLevel.ADVISORY
            self.findings.append(Finding(self.policy.name, advisory, subject, err.message))


def _policy_resource(resource: Resource, urn: str) -> PolicyResource:
    return PolicyResource(
        resource.resource_type,
        _proxied(resource.props),
        urn,
        resource.name,
        _options(),
        None,
        None,
        [],
        {},
    )


def run_policies(
    policies: Sequence[Policy],
    resources: Sequence[Resource],
    *,
    stack: str,
    project: str,
    config: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Every enabled policy over every resource (resource policies) or the stack (stack ones)."""
    config = config or {}
    findings: list[Finding] = []
    urns = [urn_of(stack, project, resource) for resource in resources]
    for policy in policies:
        level = enforcement_of(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue
        settings = policy_settings(policy, config)
        run = _Run(policy, level)
        if isinstance(policy, ResourceValidationPolicy):
            for resource, urn in zip(resources, urns, strict=True):
                args = ResourceValidationArgs(
                    resource.resource_type,
                    _proxied(resource.props),
                    urn,
                    resource.name,
                    _options(),
                    None,
                    settings,
                )
                run.call(urn, partial(policy.validate, args))
        elif isinstance(policy, StackValidationPolicy):
            stack_resources = [_policy_resource(r, u) for r, u in zip(resources, urns, strict=True)]
            run.call(
                "stack", partial(policy.validate, StackValidationArgs(stack_resources, settings))
            )
        findings.extend(run.findings)
    return findings


def has_mandatory(findings: Sequence[Finding]) -> bool:
    """Whether `pulumi up` would refuse: any mandatory finding."""
    return any(finding.enforcement == EnforcementLevel.MANDATORY for finding in findings)


def format_finding(finding: Finding) -> str:
    """Policy, enforcement and resource on one line, the message indented below."""
    head = f"{finding.enforcement.value:9}  {finding.policy}  {finding.resource}"
    return f"{head}\n    {finding.message}"


def _as_preview_value(value: Any) -> Any:
    # The render marks values only a deployment knows; the engine sends the SDK's sentinel.
    if is_unknown(value):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {key: _as_preview_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_preview_value(item) for item in value]
    return value


def policy_resources(result: RenderResult) -> list[Resource]:
    """The registered custom resources, inputs as a preview would show them to the pack."""
    return [
        Resource(r.type, r.name, _as_preview_value(r.inputs))
        for r in result.resources
        if not r.type.startswith("ip-masq-agent:")  # components register no inputs
    ]


def check_render(
    result: RenderResult,
    *,
    policy_config: Mapping[str, Any] | None = None,
    policies: Sequence[Policy] = POLICIES,
) -> list[Finding]:
    """This package's policy pack (or `policies`) over a render, with `--policy-pack-config`'s
    JSON as `policy_config` (policy name -> enforcement level or settings)."""
    return run_policies(
        policies,
        policy_resources(result),
        stack=result.stack,
        project=result.project,
        config=policy_config,
    )
