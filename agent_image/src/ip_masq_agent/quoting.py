"""Bounded quoting: a value named in an error or a log line never makes it long."""

from typing import Any, Final

QUOTE_LIMIT: Final = 100  # characters of a value's repr kept in a message


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)`, cut to about `limit` characters with an ellipsis.

    The repr of a huge value is never built whole: strings are cut before quoting, and
    containers are summarised by type and length (an expanded YAML alias bomb holds hundreds
    of millions of items).
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        shown = repr(value) if len(value) <= 8 and _small(value) else None
        if shown is not None and len(shown) <= limit:
            return shown
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _small(value: list[Any] | tuple[Any, ...] | dict[Any, Any] | set[Any] | frozenset[Any]) -> bool:
    items = list(value.items()) if isinstance(value, dict) else list(value)
    flat: list[Any] = []
    for item in items:
        flat.extend(item if isinstance(item, tuple) and isinstance(value, dict) else (item,))
    return all(
        isinstance(v, (str, int, float, bool, type(None))) and len(str(v)) <= QUOTE_LIMIT
        for v in flat
    )


def clipped(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Free text (a parser's message) cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[:limit] + "..."
