"""Test your own Pulumi program offline: render it under Pulumi's mocks, run this package's
policy pack on it, and assert on the registered resources and the findings.

    from pulumi_ip_masq_agent.testing import check_program

    def test_the_agent_keeps_the_pod_range() -> None:
        report = check_program("path/to/program", stack="dev", config={"image": "..."})
        assert not report.mandatory, report.summary()
        [configmap] = report.result.of_type("kubernetes:core/v1:ConfigMap")

Needs the `[testing]` extra (pulumi-policy): pip install "pulumi-ip-masq-agent[testing]".
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import pulumi_policy  # noqa: F401  (checked here: the policy modules below need it)
except ModuleNotFoundError as err:  # pragma: no cover - exercised from a bare install
    raise ModuleNotFoundError(
        "pulumi_ip_masq_agent.testing needs pulumi-policy: "
        'pip install "pulumi-ip-masq-agent[testing]"',
        name=err.name,
    ) from None

from pulumi_policy import EnforcementLevel

from pulumi_ip_masq_agent.testing.offline_policy import (
    Finding,
    check_render,
    format_finding,
    has_mandatory,
)
from pulumi_ip_masq_agent.testing.offline_render import (
    USER_ERRORS,
    CallHandler,
    run_project,
    run_under_mocks,
)
from pulumi_ip_masq_agent.testing.project_config import (
    load_stack_config,
    project_name,
    stack_config,
)
from pulumi_ip_masq_agent.testing.render_result import (
    RegisteredResource,
    RenderError,
    RenderResult,
    is_unknown,
)


@dataclass(frozen=True)
class ProgramReport:
    """One program rendered and checked: what it registered and what the pack said of it."""

    result: RenderResult
    findings: tuple[Finding, ...]

    @property
    def mandatory(self) -> tuple[Finding, ...]:
        """The findings that would stop `pulumi up`."""
        return tuple(f for f in self.findings if f.enforcement == EnforcementLevel.MANDATORY)

    def summary(self) -> str:
        """Every finding as `pulumi preview` lists them (for an assertion's message)."""
        return "\n".join(format_finding(f) for f in self.findings) or "no findings"


def render_program(
    program: str | Path | Callable[[], None],
    *,
    stack: str = "test",
    config: Mapping[str, object] | None = None,
    project: str | None = None,
    call: CallHandler | None = None,
) -> RenderResult:
    """Run `program` as `pulumi preview` would, under mocks, and return what it registered.

    `program` is a project directory (Pulumi.yaml and __main__.py: its config defaults, then
    Pulumi.<stack>.yaml if present, then `config`) or a function (only `config`, under
    `project`, default "test"). Keys without a `namespace:` are the project's; values are as
    in a stack file (booleans, lists and maps become the JSON the CLI passes). `call` answers
    invokes such as `gcp.compute.get_subnetwork`. Raises the program's error with its own
    one-line message (a RenderError when it came through Pulumi's wrapping).
    """
    values = config or {}
    if callable(program):
        name = project or "test"
        return run_under_mocks(
            program, stack=stack, config=stack_config(name, values), call=call, project=name
        )
    root = Path(program)
    settings = load_stack_config(stack, root=root, missing_ok=True)
    settings.update(stack_config(project_name(root), values))
    return run_project(root, stack=stack, config=settings, call=call)


def check_program(
    program: str | Path | Callable[[], None],
    *,
    stack: str = "test",
    config: Mapping[str, object] | None = None,
    project: str | None = None,
    call: CallHandler | None = None,
    policy_config: Mapping[str, Any] | None = None,
) -> ProgramReport:
    """`render_program`, then run this package's policy pack over it; `policy_config` is
    what `--policy-pack-config` would give (policy name -> level, or settings)."""
    result = render_program(program, stack=stack, config=config, project=project, call=call)
    findings = check_render(result, policy_config=policy_config)
    return ProgramReport(result, tuple(findings))


__all__ = [
    "USER_ERRORS",
    "CallHandler",
    "EnforcementLevel",
    "Finding",
    "ProgramReport",
    "RegisteredResource",
    "RenderError",
    "RenderResult",
    "check_program",
    "check_render",
    "has_mandatory",
    "is_unknown",
    "render_program",
]
