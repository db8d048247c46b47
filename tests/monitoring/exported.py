"""What the agent exports (from its own registry) and which metrics a PromQL expression names."""

import re
from typing import Final

from prometheus_client import CollectorRegistry

from ip_masq_agent.metrics import AgentMetrics

# Words of PromQL that look like metric names but are not.
_KEYWORDS: Final = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
    | {"bool", "offset", "inf", "nan"}
)
_IDENTIFIER: Final = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


# The sample names the exposition format gives each metric type.
_SUFFIXES: Final = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def exported_metric_names() -> frozenset[str]:
    """Every sample name the agent's registry can expose (`_total`, `_bucket`, ...), also of
    labelled metrics no sync has touched yet (those expose no sample until then)."""
    registry = CollectorRegistry()
    AgentMetrics(registry, backend="nftables")
    return frozenset(
        family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]
    )


def metric_names_in(expr: str) -> frozenset[str]:
    """The metric names an expression selects: identifiers that are no function, keyword,
    label (in a matcher, a grouping or a string) or duration."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings: label values, regexes, names
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # grouping labels
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function or an aggregation, or a keyword
        if match.start() > 0 and text[match.start() - 1].isdigit():
            continue  # the unit of a number (1e3) or a duration
        names.add(word)
    return frozenset(names)
