"""The README's configuration reference is Pulumi.yaml's config block, row for row."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

from pulumi_ip_masq_agent.ip_masq_agent import agent_args

ROOT = Path(__file__).resolve().parents[2]


def format_default(value: Any) -> str:
    if value == "":
        return ""
    if isinstance(value, bool | int | list):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def expected_rows() -> list[list[str]]:
    config = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    return [
        [f"`{key}`", spec["type"], format_default(spec["default"]), spec["description"]]
        for key, spec in config.items()
    ]


def readme_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = lines.index("| key | type | default | description |")
    rows = []
    for line in lines[start + 2 :]:  # after the header and its |---| separator
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_readme_configuration_reference_matches_pulumi_yaml() -> None:
    assert readme_rows() == expected_rows()


def test_recorded_demo_shows_the_local_stacks_agent_args() -> None:
    # The recording is pasted by hand: keep it from drifting from what the DaemonSet runs.
    text = (ROOT / "README.md").read_text()
    demo = text.split("## The sandbox demo", 1)[1].split("\n## ", 1)[0]
    args = " ".join(agent_args(enable_ipv6=False, backend="auto"))  # Pulumi.local.yaml's
    assert f"  agent args: {args}\n" in demo
    assert re.search(r"\n(\d+)/\1 probes as expected\n```", demo)


if __name__ == "__main__":
    # Print the table to paste into the README after changing Pulumi.yaml.
    print("| key | type | default | description |\n|---|---|---|---|")
    for row in expected_rows():
        print("| " + " | ".join(row) + " |")
