"""Running Debian's promtool (package `prometheus`) from tests, bounded in time."""

import subprocess
from pathlib import Path


def run_promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """promtool's exit status and report (stdout and stderr), for the assertion message."""
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
