"""The demo's probe table: rows of from, to, source seen, expected, verdict; pure formatting."""

from collections.abc import Sequence

from testbed.netlab.cluster import ProbeResult


def _row(result: ProbeResult) -> tuple[str, ...]:
    probe = result.probe
    expected = f"{probe.expected} ({probe.expected_source})"
    return (
        f"{probe.source.name}",
        f"{probe.target} {probe.address}",
        probe.proto,
        result.seen or "(no answer)",
        expected,
        "ok" if result.ok else "WRONG",
    )


HEADER = ("from", "to", "proto", "source seen", "expected", "verdict")


def format_table(results: Sequence[ProbeResult]) -> list[str]:
    """Aligned text rows, header first."""
    rows = [HEADER, *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def summary_line(passed: int, total: int) -> str:
    return f"{passed}/{total} probes as expected"
