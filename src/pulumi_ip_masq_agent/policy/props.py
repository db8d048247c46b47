"""Typed reads of resource properties, which arrive as plain values or the SDK's proxies."""

from collections.abc import Mapping, Sequence
from typing import Any

EMPTY: Mapping[str, Any] = {}


def as_mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is a mapping (dict or the SDK's proxy), else an empty mapping."""
    return value if isinstance(value, Mapping) else EMPTY


def as_list(value: Any) -> Sequence[Any]:
    """The value if it is a list (list or the SDK's proxy), else an empty list."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value
    return ()


def as_text(value: Any) -> str | None:
    """The value if it is a non-empty string."""
    return value if isinstance(value, str) and value else None


def dig(value: Any, *path: str) -> Any:
    """Follow keys through nested mappings; None where a key is missing."""
    for key in path:
        mapping = as_mapping(value)
        if key not in mapping:
            return None
        value = mapping[key]
    return value


def last_segment(reference: str) -> str:
    """`projects/p/regions/r/subnetworks/s` and self links name the resource by their tail."""
    return reference.rstrip("/").rsplit("/", 1)[-1]
