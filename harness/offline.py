"""Offline render: the real program under Pulumi's mock runtime, its Kubernetes objects as YAML."""

import argparse
import asyncio
import contextvars
import json
import logging
import runpy
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from ip_masq_agent.config import ConfigError
from pulumi_ip_masq_agent import pulumi_sdk as sdk
from pulumi_ip_masq_agent.cidrs import CidrError
from pulumi_ip_masq_agent.gke_network import SubnetRangeError
from pulumi_ip_masq_agent.settings import PROJECT, SettingsError

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
# In place of any value the engine only learns by deploying (digests, endpoints, ids).
UNKNOWN_PREFIX: Final = "<unknown until deployed"

CallHandler = Callable[[sdk.MockCallArgs], dict[str, Any]]


class RenderError(Exception):
    """The stack cannot be rendered offline; the message is one line."""


# What a user can get wrong in a stack file: each carries a one-line message.
USER_ERRORS: Final = (SettingsError, CidrError, ConfigError, SubnetRangeError, RenderError)


def unknown_marker(path: str) -> str:
    """The stand-in written for an unknown value at `path`."""
    return f"{UNKNOWN_PREFIX}: {path}>"


def is_unknown(value: object) -> bool:
    """True for the stand-in of a value that is only known after deployment."""
    return isinstance(value, str) and value.startswith(UNKNOWN_PREFIX)


@dataclass(frozen=True)
class RegisteredResource:
    """One resource the program registered: its type token, logical name and inputs."""

    type: str
    name: str
    inputs: dict[str, Any]

    @property
    def is_kubernetes_object(self) -> bool:
        return self.type.startswith("kubernetes:") and "apiVersion" in self.inputs


@dataclass(frozen=True)
class RenderResult:
    """Everything one run of the program registered and exported."""

    stack: str
    resources: tuple[RegisteredResource, ...]
    outputs: dict[str, Any]
    unknown_paths: tuple[str, ...] = field(default=())

    def kubernetes_objects(self) -> list[RegisteredResource]:
        return [r for r in self.resources if r.is_kubernetes_object]

    def of_type(self, type_token: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_token]


def _encode(value: Any) -> str:
    # The Pulumi CLI hands the program every config value as a string; structures as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def load_stack_config(
    stack: str, *, root: Path = REPO_ROOT, stack_file: Path | None = None
) -> dict[str, str]:
    """Pulumi.yaml defaults overlaid with Pulumi.<stack>.yaml, encoded as the CLI passes them;
    `stack_file` takes the stack's config from elsewhere (e.g. a test's deliberately broken one)."""
    stack_file = stack_file or root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise RenderError(
            f"{stack_file.name}: no such stack file (stacks: {', '.join(stacks(root))})"
        )
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project_name(root)
    config: dict[str, str] = {}
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            config[key if ":" in key else f"{name}:{key}"] = _encode(spec["default"])
    document = yaml.safe_load(stack_file.read_text()) or {}
    for key, value in (document.get("config") or {}).items():
        config[key if ":" in key else f"{name}:{key}"] = _encode(value)
    return config


def project_name(root: Path) -> str:
    """The `name:` of the Pulumi project at `root` (this repository's: ip-masq-agent)."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}
    return str(project.get("name") or PROJECT)


def program_root(stack_file: Path) -> Path:
    """The project a stack file belongs to: its own directory when that holds a Pulumi program
    (e.g. a user's program, or a test's deliberately mis-wired one), else this repository."""
    here = stack_file.resolve().parent
    if (here / "Pulumi.yaml").is_file() and (here / "__main__.py").is_file():
        return here
    return REPO_ROOT


def stacks(root: Path = REPO_ROOT) -> list[str]:
    """The stacks that have a stack file."""
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml")
    )


class _RecordingMocks(sdk.Mocks):
    """Echoes inputs as outputs, as a preview does: computed-only outputs stay unknown."""

    def __init__(self, call: CallHandler | None) -> None:
        self.registered: list[RegisteredResource] = []
        self._call = call

    def new_resource(self, args: sdk.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.registered.append(RegisteredResource(args.typ, args.name, dict(args.inputs)))
        # An empty id is unknown, as for any resource a preview would create.
        return "", dict(args.inputs)

    def call(self, args: sdk.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if self._call is None:
            raise RenderError(
                f"{args.token} reads live infrastructure (existingSubnet?); "
                "it cannot be rendered offline: use `pulumi preview`"
            )
        return self._call(args), []


def _replace_unknowns(value: Any, path: str, found: list[str]) -> Any:
    if sdk.is_unknown(value):
        found.append(path)
        return unknown_marker(path)
    if isinstance(value, dict):
        return {
            k: _replace_unknowns(v, f"{path}.{k}" if path else k, found) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace_unknowns(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        # The engine's wire format has only doubles; ports and counts were integers.
        return int(value)
    return value


def render_stack(
    stack: str,
    *,
    root: Path = REPO_ROOT,
    config: Mapping[str, str] | None = None,
    call: CallHandler | None = None,
) -> RenderResult:
    """Run `__main__.py` as `pulumi preview` would, under mocks; `config` overrides the file."""
    settings = dict(config) if config is not None else load_stack_config(stack, root=root)
    program = str(root / "__main__.py")
    return run_under_mocks(
        lambda: _run_path(program),
        stack=stack,
        config=settings,
        call=call,
        project=project_name(root),
    )


def run_under_mocks(
    program: Callable[[], None],
    *,
    stack: str,
    config: Mapping[str, str],
    call: CallHandler | None = None,
    project: str = PROJECT,
) -> RenderResult:
    """Run any Pulumi program under preview mocks; also how tests drive a single component."""
    # A fresh context and event loop: Pulumi keeps its runtime state in context variables.
    return contextvars.Context().run(_run_program, program, stack, dict(config), call, project)


def _run_program(
    program: Callable[[], None],
    stack: str,
    config: dict[str, str],
    call: CallHandler | None,
    project: str,
) -> RenderResult:
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_ignore_unretrieved)
    asyncio.set_event_loop(loop)
    # Pulumi tracks pending outputs in a set that outlives contexts; start from none.
    sdk.clear_pending_outputs()
    try:
        sdk.set_config(config)
        recorder = _RecordingMocks(call)
        quiet = logging.getLogger("ip-masq-agent.render")
        quiet.setLevel(logging.CRITICAL)
        sdk.install_mocks(recorder, project=project, stack=stack, logger=quiet)
        sdk.run_program(loop, program)
        outputs = loop.run_until_complete(sdk.stack_outputs(unknown_marker))
    except Exception as err:
        raise _user_error(err) from None
    finally:
        # After a failure some registrations are still pending: cancel them, quietly.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        sdk.clear_pending_outputs()
        loop.close()
        asyncio.set_event_loop(None)
    found: list[str] = []
    resources = tuple(
        RegisteredResource(r.type, r.name, _replace_unknowns(r.inputs, "", found))
        for r in recorder.registered
    )
    unknown_paths: list[str] = []
    for resource in resources:
        if resource.is_kubernetes_object:
            unknown_paths += [
                f"{resource.inputs['kind']} {p}" for p in _find_unknowns(resource.inputs, "")
            ]
    return RenderResult(stack, resources, outputs, tuple(unknown_paths))


def _ignore_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A failed program leaves Pulumi futures holding the error render_stack already raised.
    if "never retrieved" not in str(context.get("message", "")):
        loop.default_exception_handler(context)


def _run_path(program: str) -> None:
    runpy.run_path(program, run_name="__main__")


def _find_unknowns(value: Any, path: str) -> list[str]:
    if is_unknown(value):
        return [path]
    if isinstance(value, dict):
        return [
            p for k, v in value.items() for p in _find_unknowns(v, f"{path}.{k}" if path else k)
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _find_unknowns(v, f"{path}[{i}]")]
    return []


def _user_error(err: Exception) -> Exception:
    # Errors raised inside an apply may arrive wrapped; surface the user's one-line cause.
    current: BaseException | None = err
    visited: set[int] = set()
    while current is not None and id(current) not in visited:
        if isinstance(current, USER_ERRORS):
            return current
        visited.add(id(current))
        current = current.__cause__ or current.__context__
    message = sdk.risen_message(err)
    return RenderError(message) if message is not None else err


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
