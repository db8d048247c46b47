"""`make render`: this repository's program under the mocks of pulumi_ip_masq_agent.testing, its
Kubernetes objects as YAML files."""

import argparse
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from pulumi_ip_masq_agent.pulumi_sdk import MockCallArgs
from pulumi_ip_masq_agent.settings import PROJECT
from pulumi_ip_masq_agent.testing import offline_render
from pulumi_ip_masq_agent.testing.offline_render import (
    USER_ERRORS,
    CallHandler,
    RegisteredResource,
    RenderError,
    RenderResult,
    is_unknown,
    run_project,
    run_under_mocks,
    unknown_marker,
)

__all__ = [
    "REPO_ROOT",
    "USER_ERRORS",
    "CallHandler",
    "RegisteredResource",
    "RenderError",
    "RenderResult",
    "is_unknown",
    "load_stack_config",
    "main",
    "manifest_yaml",
    "object_file_name",
    "program_root",
    "project_name",
    "render_stack",
    "run_under_mocks",
    "stacks",
    "unknown_marker",
    "write_manifests",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]


def load_stack_config(
    stack: str, *, root: Path = REPO_ROOT, stack_file: Path | None = None
) -> dict[str, str]:
    """Pulumi.yaml defaults overlaid with Pulumi.<stack>.yaml, encoded as the CLI passes them;
    `stack_file` takes the stack's config from elsewhere (e.g. a test's deliberately broken one)."""
    return offline_render.load_stack_config(stack, root=root, stack_file=stack_file)


def project_name(root: Path) -> str:
    """The `name:` of the Pulumi project at `root` (this repository's: ip-masq-agent)."""
    return offline_render.project_name(root)


def program_root(stack_file: Path) -> Path:
    """The project a stack file belongs to: its own directory when that holds a Pulumi program
    (e.g. a user's program, or a test's deliberately mis-wired one), else this repository."""
    here = stack_file.resolve().parent
    if (here / "Pulumi.yaml").is_file() and (here / "__main__.py").is_file():
        return here
    return REPO_ROOT


def stacks(root: Path = REPO_ROOT) -> list[str]:
    """The stacks that have a stack file."""
    return offline_render.stacks(root)


def _no_live_reads(args: MockCallArgs) -> dict[str, Any]:
    # This repository's only live read is an existing subnet's lookup.
    raise RenderError(
        f"{args.token} reads live infrastructure (existingSubnet?); "
        "it cannot be rendered offline: use `pulumi preview`"
    )


def render_stack(
    stack: str,
    *,
    root: Path = REPO_ROOT,
    config: Mapping[str, str] | None = None,
    call: CallHandler | None = None,
) -> RenderResult:
    """Run `__main__.py` as `pulumi preview` would, under mocks; `config` overrides the file."""
    settings = dict(config) if config is not None else load_stack_config(stack, root=root)
    return run_project(root, stack=stack, config=settings, call=call or _no_live_reads)


def object_file_name(obj: Mapping[str, Any]) -> str:
    """`<kind>-<namespace>-<name>.yaml`, lower case, unique per object."""
    metadata = obj.get("metadata") or {}
    parts = [obj["kind"], metadata.get("namespace") or "cluster", metadata.get("name") or "unnamed"]
    return "-".join(str(p).lower() for p in parts) + ".yaml"


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (the ConfigMap's document) as literal blocks, as a person writes them."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ManifestDumper.add_representer(str, _represent_text)


def manifest_yaml(obj: Mapping[str, Any]) -> str:
    """One Kubernetes object as YAML: apiVersion, kind, metadata first, as kubectl shows them."""
    head = [key for key in ("apiVersion", "kind", "metadata") if key in obj]
    ordered = {key: obj[key] for key in [*head, *(k for k in obj if k not in head)]}
    return yaml.dump(ordered, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False)


def write_manifests(result: RenderResult, out_dir: Path) -> list[Path]:
    """Replace `out_dir` with one YAML file per Kubernetes object."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    written = []
    for resource in result.kubernetes_objects():
        path = out_dir / object_file_name(resource.inputs)
        path.write_text(manifest_yaml(resource.inputs))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """`make render STACK=<stack>`: write rendered/<stack>/ and print the derived CIDRs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "rendered", help="output root")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value for this render, as `pulumi config set` would",
    )
    options = parser.parse_args(argv)
    try:
        config = load_stack_config(options.stack)
        for assignment in options.set:
            key, equals, value = assignment.partition("=")
            if not equals:
                raise RenderError(f"--set {assignment!r}: want KEY=VALUE")
            config[key if ":" in key else f"{PROJECT}:{key}"] = value
        result = render_stack(options.stack, config=config)
    except USER_ERRORS as err:
        print(f"render {options.stack}: {err}", file=sys.stderr)
        return 2
    written = write_manifests(result, options.out / options.stack)
    cidrs = result.outputs.get("nonMasqueradeCidrs")
    print(f"stack {options.stack}: nonMasqueradeCIDRs")
    for cidr in cidrs if isinstance(cidrs, list) else [cidrs]:
        print(f"  {cidr}")
    for path in written:
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    for unknown in result.unknown_paths:
        print(f"unknown until deployed: {unknown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
