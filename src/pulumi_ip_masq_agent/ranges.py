"""One range to leave unmasqueraded: its CIDR, its label and its origin, from input to ConfigMap."""

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi

from pulumi_ip_masq_agent.pulumi_sdk import resource_name


class Range(TypedDict):
    """A destination range that pods reach without SNAT, and what names it in errors."""

    cidr: pulumi.Input[str]
    """The CIDR, e.g. `10.4.0.0/14`; usually an Output of the resource that owns the range."""
    label: str
    """What the range is, e.g. `pods` or `on-prem VPN`; named in every error about it."""
    origin: NotRequired[str]
    """Where it came from: a stack key (`ip-masq-agent:podsCidr`) or a resource."""


def describe(item: Range) -> str:
    """The one place a range's name in messages is built: `<label> of <origin>`, or the stack
    key alone for a range read from stack config (the key is what the user edits)."""
    origin = item.get("origin")
    if not origin or origin == item["label"]:
        return item["label"]
    return f"{item['label']} of {origin}"


def known_cidr(item: Range) -> str:
    """The CIDR once resolved (ranges are resolved before they are parsed)."""
    cidr = item["cidr"]
    if not isinstance(cidr, str):
        raise TypeError(f"{describe(item)}: cidr {cidr!r} is not a string")
    return cidr


def stack_range(key: str, cidr: str) -> Range:
    """A range read from stack config: its label and origin are the stack key."""
    return Range(cidr=cidr, label=key, origin=key)


def resource_origin(resource: pulumi.Resource) -> str:
    """`Subnetwork network-subnet`: the resource a range was read from."""
    return f"{type(resource).__name__} {resource_name(resource)}"


def secondary_range_label(range_name: str) -> str:
    """The label of a subnet's named secondary range."""
    return f"secondary range {range_name!r}"


def as_range(value: Any, *, where: str) -> Range:
    """The Range in `value` (a Python caller's, or the mapping another language's SDK sends);
    TypeError naming `where` for anything else."""
    if isinstance(value, Mapping) and isinstance(value.get("label"), str) and "cidr" in value:
        item = Range(cidr=value["cidr"], label=value["label"])
        if isinstance(value.get("origin"), str) and value["origin"]:
            item["origin"] = value["origin"]
        return item
    raise TypeError(f"{where}: {value!r} is not a Range (want cidr and label)")


def resolve_ranges(
    ranges: pulumi.Input[Sequence[pulumi.Input[Range]]], *, argument: str
) -> pulumi.Output[list[Range]]:
    """Every range with its CIDR resolved, in the order given."""

    def resolve(items: Sequence[Any]) -> pulumi.Output[list[Range]]:
        typed = [as_range(item, where=f"{argument}[{i}]") for i, item in enumerate(items)]
        return pulumi.Output.all(*[pulumi.Output.from_input(r["cidr"]) for r in typed]).apply(
            lambda known: [_with_cidr(r, cidr) for r, cidr in zip(typed, known, strict=True)]
        )

    return pulumi.Output.from_input(ranges).apply(resolve)


def _with_cidr(item: Range, cidr: str) -> Range:
    resolved = item.copy()
    resolved["cidr"] = cidr
    return resolved


def concat_ranges(
    *groups: pulumi.Input[Sequence[pulumi.Input[Range]]],
) -> pulumi.Output[list[Range]]:
    """The groups one after another: never merged by a key, so no range can be dropped."""
    return pulumi.Output.all(*groups).apply(
        lambda resolved: [item for group in resolved for item in group]
    )
