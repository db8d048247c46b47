"""`make check STACK=<stack or stack file>`: render the program under mocks, run the whole pack."""

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_ip_masq_agent.testing.offline_policy import (
    Finding,
    check_render,
    format_finding,
    has_mandatory,
    policy_resources,
)
from testbed.harness.offline import (
    REPO_ROOT,
    USER_ERRORS,
    load_stack_config,
    program_root,
    render_stack,
)

__all__ = ["check_stack", "load_policy_config", "main", "policy_resources", "resolve_stack"]

CONFIG_DIR = REPO_ROOT / "policies" / "config"


def resolve_stack(stack: str) -> tuple[str, Path]:
    """A stack name (`dev`) or a stack file path (`tests/.../Pulumi.broken.yaml`)."""
    path = Path(stack)
    if path.suffix == ".yaml" or len(path.parts) > 1:
        name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        return name, path.resolve()
    return stack, REPO_ROOT / f"Pulumi.{stack}.yaml"


def check_stack(stack: str, config: Mapping[str, Any] | None = None) -> list[Finding]:
    """Render `stack` (name or file) under mocks and run every policy of the pack over it."""
    name, stack_file = resolve_stack(stack)
    root = program_root(stack_file)
    settings = load_stack_config(name, root=root, stack_file=stack_file)
    return check_render(render_stack(name, root=root, config=settings), policy_config=config)


def load_policy_config(path: Path | None, stack: str) -> dict[str, Any]:
    """`--policy-pack-config` JSON: the given file, else policies/config/<stack>.json if any."""
    if path is None:
        path = CONFIG_DIR / f"{resolve_stack(stack)[0]}.json"
        if not path.is_file():
            return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read policy config: {err}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: policy config must be a JSON object of policy names")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Print every finding; exit 1 on a mandatory one, 2 when the stack cannot be rendered."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name or Pulumi.<stack>.yaml path")
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="policy config JSON (default policies/config/<stack>.json)",
    )
    options = parser.parse_args(argv)
    try:
        config = load_policy_config(options.policy_config, options.stack)
        findings = check_stack(options.stack, config)
    except (*USER_ERRORS, ValueError) as err:
        print(f"check {options.stack}: {err}", file=sys.stderr)
        return 2
    for finding in findings:
        print(format_finding(finding))
    mandatory = has_mandatory(findings)
    verdict = "FAILED: mandatory policy violated" if mandatory else "passed"
    print(f"check {options.stack}: {len(findings)} finding(s); {verdict}")
    return 1 if mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
