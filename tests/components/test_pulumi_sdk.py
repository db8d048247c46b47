"""The SDK internals the package and the harness rely on, each exercised against the installed
SDK, which must be the one requirements.txt pins and the adapter was written for."""

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pulumi
import pytest

from pulumi_ip_masq_agent import pulumi_sdk as sdk
from testbed.harness.offline import run_under_mocks

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_sdk_is_the_pinned_one_the_adapter_was_written_for() -> None:
    pinned = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned is not None
    assert version("pulumi") == pinned.group(1) == sdk.WRITTEN_FOR_PULUMI


def test_config_keys_resource_name_and_unknowns_in_a_preview() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        seen["keys"] = sdk.stack_config_keys()
        resource = pulumi.CustomResource("test:index:Thing", "thing-1", {"known": "x"})
        seen["name"] = sdk.resource_name(resource)
        # An output the mocks leave unknown, as a preview leaves a computed value.
        computed = pulumi.Output.from_input(resource.id)
        pulumi.export("unknown", computed.apply(sdk.is_unknown, run_with_unknowns=True))
        pulumi.export("known", pulumi.Output.from_input("x").apply(sdk.is_unknown))

    result = run_under_mocks(program, stack="s", config={"p:a": "1", "p:b": "2"}, project="p")
    assert {"p:a", "p:b"} <= seen["keys"]
    assert seen["name"] == "thing-1"
    assert result.outputs == {"unknown": True, "known": False}


def test_risen_message_unwraps_an_error_raised_in_an_input() -> None:
    def program() -> None:
        def fail(_: str) -> str:
            raise ValueError("the one-line cause")

        pulumi.CustomResource(
            "test:index:Thing", "thing", {"value": pulumi.Output.from_input("x").apply(fail)}
        )

    with pytest.raises(Exception) as caught:
        run_under_mocks(program, stack="s", config={}, project="p")
    # The harness surfaced the cause, whichever way the SDK wrapped it.
    assert str(caught.value) == "the one-line cause"
    assert type(caught.value).__name__ == "RenderError", (
        "the SDK no longer wraps it: see risen_message"
    )
    assert sdk.risen_message(RuntimeError("a\nvalue has risen: the cause")) == "the cause"
    assert sdk.risen_message(RuntimeError("plain")) is None
