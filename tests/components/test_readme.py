"""The README's configuration reference is Pulumi.yaml's config block, row for row."""

import json
from pathlib import Path
from typing import Any

import yaml

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


if __name__ == "__main__":
    # Print the table to paste into the README after changing Pulumi.yaml.
    print("| key | type | default | description |\n|---|---|---|---|")
    for row in expected_rows():
        print("| " + " | ".join(row) + " |")
