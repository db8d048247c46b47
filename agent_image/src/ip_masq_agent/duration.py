"""Go-style duration strings (`time.ParseDuration`), as upstream's `resyncInterval` uses."""

import re
from collections.abc import Mapping
from typing import Final

# Go's time.Duration is int64 nanoseconds: ParseDuration refuses anything longer (~292 years).
MAX_SECONDS: Final = (2**63 - 1) / 1e9
_UNIT_SECONDS: Final[Mapping[str, float]] = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign, as Go accepts
    "\u03bcs": 1e-6,  # Greek mu, as Go accepts
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
# [0-9], not \d: Go takes ASCII digits only (Arabic-Indic `10s` is no duration there).
_TERM: Final = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)([a-z\u00b5\u03bc]+)")


def parse_go_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError for anything Go would reject."""
    body = text
    sign = 1.0
    if body[:1] in "+-" and body:
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _TERM.match(body, pos)
        if match is None or match.group(2) not in _UNIT_SECONDS:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if total > MAX_SECONDS:
        raise ValueError(f"invalid duration {text!r}: longer than Go's ~292 years")
    return sign * total
