"""The one place that reaches into the Pulumi SDK's internals (modules and attributes that are
not its documented API); tests/components/test_pulumi_sdk.py exercises each against the SDK
version pinned in requirements.txt, so an upgrade that moves one fails there, not somewhere
else. pulumi_ip_masq_agent.testing (and through it the offline harness: render, check, demo,
component tests) uses the same functions."""

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import pulumi
import pulumi.runtime
import pulumi.runtime.config
import pulumi.runtime.settings
import pulumi.runtime.stack
from pulumi.provider.experimental import component_provider_host
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime import mocks

# The SDK these internals were written against (requirements.txt pins it; the test checks).
WRITTEN_FOR_PULUMI: Final = "3.272.0"

Mocks = mocks.Mocks
MockResourceArgs = mocks.MockResourceArgs
MockCallArgs = mocks.MockCallArgs

__all__ = [
    "WRITTEN_FOR_PULUMI",
    "ComponentProvider",
    "MockCallArgs",
    "MockResourceArgs",
    "Mocks",
    "camel_case",
    "clear_pending_outputs",
    "component_provider_host",
    "install_mocks",
    "is_unknown",
    "resource_name",
    "risen_message",
    "run_program",
    "set_config",
    "stack_config_keys",
    "stack_outputs",
]


def stack_config_keys() -> set[str]:
    """Every config key the engine handed this program (`project:key`), declared or not."""
    return set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())


def resource_name(resource: pulumi.Resource) -> str:
    """A resource's logical name, as `pulumi preview` shows it."""
    name: str = resource._name
    return name


def is_unknown(value: object) -> bool:
    """True for the value an `apply(..., run_with_unknowns=True)` callback sees in place of a
    value the engine does not know yet (a preview)."""
    return isinstance(value, pulumi.output.Unknown)


# Harness side: running a program offline under the SDK's mock runtime.


def clear_pending_outputs() -> None:
    """Forget the SDK's process-wide set of pending outputs (it outlives contexts)."""
    pulumi.runtime.settings.SETTINGS.outputs.clear()


def set_config(config: Mapping[str, str]) -> None:
    """The config the engine would pass (`project:key` -> string)."""
    pulumi.runtime.set_all_config(dict(config))


def install_mocks(recorder: Mocks, *, project: str, stack: str, logger: logging.Logger) -> None:
    """Preview mocks for the program about to run."""
    mocks.set_mocks(recorder, project=project, stack=stack, preview=True, logger=logger)


def run_program(loop: asyncio.AbstractEventLoop, program: Callable[[], None]) -> None:
    """Run a program as the language host does: every registration awaited."""
    loop.run_until_complete(pulumi.runtime.stack.run_pulumi_func(program))


async def stack_outputs(unknown: Callable[[str], str]) -> dict[str, Any]:
    """The stack's exports; `unknown(key)` stands for a value the engine does not know yet."""
    root = pulumi.runtime.settings.get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {})
    values: dict[str, Any] = {}
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        known = await output.is_known()
        values[key] = await output.future() if known else unknown(key)
    return values


def risen_message(error: BaseException) -> str | None:
    """The original message of an error the SDK re-raised from an input: it wraps it as a new
    error, one "... has risen: <message>" line per level."""
    text = str(error)
    innermost = text.splitlines()[-1] if text else ""
    marker = " has risen: "
    return innermost.split(marker, 1)[1] if marker in innermost else None
