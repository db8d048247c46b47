"""A Pulumi project's stack config as the CLI hands it to a program: Pulumi.yaml's defaults
overlaid with a stack file, every value encoded as a string."""

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from pulumi_ip_masq_agent.settings import PROJECT
from pulumi_ip_masq_agent.testing.render_result import RenderError


def encode_config_value(value: object) -> str:
    """A config value as the Pulumi CLI hands it to a program: strings as they are, the rest
    as JSON (booleans `true`/`false`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def stack_config(project: str, values: Mapping[str, object]) -> dict[str, str]:
    """`values` as the engine passes them: a key without a namespace is the project's own."""
    return {
        key if ":" in key else f"{project}:{key}": encode_config_value(value)
        for key, value in values.items()
    }


def project_name(root: Path) -> str:
    """The `name:` of the Pulumi project at `root`."""
    project = yaml.safe_load(_project_file(root).read_text()) or {}
    return str(project.get("name") or PROJECT)


def stacks(root: Path) -> list[str]:
    """The stacks of the project at `root` that have a stack file."""
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml")
    )


def load_stack_config(
    stack: str, *, root: Path, stack_file: Path | None = None, missing_ok: bool = False
) -> dict[str, str]:
    """Pulumi.yaml defaults overlaid with Pulumi.<stack>.yaml, encoded as the CLI passes them;
    `stack_file` takes the stack's config from elsewhere; `missing_ok` allows no stack file."""
    stack_file = stack_file or root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file() and not missing_ok:
        raise RenderError(
            f"{stack_file.name}: no such stack file (stacks: {', '.join(stacks(root))})"
        )
    project = yaml.safe_load(_project_file(root).read_text()) or {}
    name = project_name(root)
    defaults = {
        key: spec["default"]
        for key, spec in (project.get("config") or {}).items()
        if isinstance(spec, dict) and "default" in spec
    }
    config = stack_config(name, defaults)
    if stack_file.is_file():
        document = yaml.safe_load(stack_file.read_text()) or {}
        config.update(stack_config(name, document.get("config") or {}))
    return config


def _project_file(root: Path) -> Path:
    """The project file at `root`, or RenderError saying a project directory is wanted."""
    path = root / "Pulumi.yaml"
    if not path.is_file():
        raise RenderError(f"{root}: no Pulumi.yaml (want the directory of a Pulumi project)")
    return path
