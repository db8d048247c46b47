"""A Pulumi program run under the SDK's preview mocks: what it registered and exported."""

import asyncio
import contextvars
import logging
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from ip_masq_agent.config import ConfigError
from pulumi_ip_masq_agent import pulumi_sdk as sdk
from pulumi_ip_masq_agent.arguments import ResolvedInputError
from pulumi_ip_masq_agent.cidrs import CidrError
from pulumi_ip_masq_agent.gke_network import SubnetRangeError
from pulumi_ip_masq_agent.settings import PROJECT, SettingsError
from pulumi_ip_masq_agent.testing.project_config import project_name
from pulumi_ip_masq_agent.testing.render_result import (
    RegisteredResource,
    RenderError,
    RenderResult,
    is_unknown,
    unknown_marker,
)
from pulumi_ip_masq_agent.testing.thread_loops import workers_with_loops

CallHandler = Callable[[sdk.MockCallArgs], dict[str, Any]]


# What a user can get wrong in a program or stack file: each carries a one-line message.
USER_ERRORS: Final = (
    SettingsError,
    CidrError,
    ConfigError,
    SubnetRangeError,
    RenderError,
    ResolvedInputError,
)


def run_project(
    root: Path,
    *,
    stack: str,
    config: Mapping[str, str],
    call: CallHandler | None = None,
) -> RenderResult:
    """Run `<root>/__main__.py` as `pulumi preview` would, under mocks, with exactly `config`
    (`project:key` -> string); `root` is on sys.path meanwhile, as the language host has it."""
    program = root / "__main__.py"
    if not program.is_file():
        raise RenderError(f"{program}: no such file (only a Python __main__.py is rendered)")
    return run_under_mocks(
        lambda: _run_path(program),
        stack=stack,
        config=config,
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
    """Run any Pulumi program (a function) under preview mocks; `config` maps `project:key` to
    the string the engine would pass; `call` answers invokes (data-source lookups)."""
    # A fresh context and event loop: Pulumi keeps its runtime state in context variables.
    return contextvars.Context().run(_run_program, program, stack, dict(config), call, project)


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
                f"{args.token} reads live infrastructure, which a render cannot: "
                "give a `call` handler that answers it, or use `pulumi preview`"
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


def _run_program(
    program: Callable[[], None],
    stack: str,
    config: dict[str, str],
    call: CallHandler | None,
    project: str,
) -> RenderResult:
    # The registrations run on worker threads that each make an event loop: the pool closes
    # them (thread_loops.py), after the render's own loop has shut the pool down.
    with workers_with_loops() as workers:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(workers)
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
    return RenderResult(stack, resources, outputs, tuple(unknown_paths), project)


def _ignore_unretrieved(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A failed program leaves Pulumi futures holding the error the render already raised.
    if "never retrieved" not in str(context.get("message", "")):
        loop.default_exception_handler(context)


@contextmanager
def _importable(directory: Path) -> Iterator[None]:
    # The language host runs a program with its directory first on sys.path: its own modules
    # import. Each run is a fresh process there: here the directory and the modules imported
    # from it go afterwards, so the next render sees the files as they are then.
    entry = str(directory)
    before = set(sys.modules)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)
        for name in set(sys.modules) - before:
            if _loaded_from(sys.modules[name], directory):
                del sys.modules[name]


def _loaded_from(module: ModuleType, directory: Path) -> bool:
    # Found through `directory` itself: `<top>.py` or the package `<top>/` right there (not,
    # say, from a virtualenv that happens to live below the program's directory).
    origin = getattr(module, "__file__", None)
    if origin is None:
        return False
    top = directory / module.__name__.partition(".")[0]
    where = Path(origin)
    return where == top.with_name(f"{top.name}.py") or where.is_relative_to(top)


def _run_path(program: Path) -> None:
    with _importable(program.parent):
        runpy.run_path(str(program), run_name="__main__")


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
