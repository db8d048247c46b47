"""Hand-built policy arguments, shaped as the Pulumi engine passes them (camelCase, proxied)."""

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    StackValidation,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

UNKNOWN = UNKNOWN_STRING_VALUE


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:test::ip-masq-agent::{resource_type}::{name}"


def reporter(violations: list[str]) -> ReportViolation:
    def report(message: str, urn: str | None = None) -> None:
        violations.append(message)

    return report


def run_resource(
    validate: ResourceValidation,
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "res",
    config: Mapping[str, Any] | None = None,
    violations: list[str] | None = None,
) -> list[str]:
    """Call a resource validator as the engine does; return the reported messages (also
    appended to `violations`, which keeps them when the validator then raises)."""
    if violations is None:
        violations = []
    report = reporter(violations)
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(copy.deepcopy(dict(props))),
        urn(resource_type, name),
        name,
        _opts(),
        None,
        config,
    )
    validate(args, report)
    return violations


def run_stack(
    validate: StackValidation,
    resources: Sequence[tuple[str, str, Mapping[str, Any]]],
    config: Mapping[str, Any] | None = None,
    violations: list[str] | None = None,
) -> list[str]:
    """Call a stack validator over (type, name, props) triples; return the reported messages."""
    if violations is None:
        violations = []
    report = reporter(violations)
    policy_resources = [
        PolicyResource(
            resource_type,
            unknown_checking_proxy(copy.deepcopy(dict(props))),
            urn(resource_type, name),
            name,
            _opts(),
            None,
            None,
            [],
            {},
        )
        for resource_type, name, props in resources
    ]
    validate(StackValidationArgs(policy_resources, config), report)
    return violations
