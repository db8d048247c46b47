"""Structured log lines: `time=... level=... event=... key=value`, one event per line."""

import json
import logging
import sys
import time
from typing import Any, Final, TextIO

LOGGER_NAME: Final = "ip_masq_agent"
# A field longer than this is cut (with its length said): no input makes a line of megabytes.
MAX_FIELD_CHARS: Final = 2048


def _value(value: Any) -> str:
    text = str(value)
    if len(text) > MAX_FIELD_CHARS:
        text = f"{text[:MAX_FIELD_CHARS]}... ({len(text)} characters)"
    # Quote anything a log parser would split on; json.dumps escapes quotes and newlines.
    if not text or any(c in text for c in ' "=\n\t'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """logfmt-style lines; fields come from `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"time={stamp}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"event={_value(record.getMessage())}",
        ]
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts += [f"{key}={_value(value)}" for key, value in fields.items()]
        return " ".join(parts)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log one event with its fields."""
    logger.log(level, event, extra={"fields": fields})


def configure_logging(verbosity: int, stream: TextIO = sys.stderr) -> logging.Logger:
    """The agent's logger on stderr; `-v` >= 2 adds debug lines (every resync)."""
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    logger.propagate = False
    return logger
