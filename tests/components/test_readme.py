"""The README's configuration reference is Pulumi.yaml's config block, row for row."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

from pulumi_ip_masq_agent.ip_masq_agent import IpMasqAgent, IpMasqAgentArgs, agent_args
from pulumi_ip_masq_agent.provider import schema as provider_schema
from pulumi_ip_masq_agent.pulumi_sdk import camel_case

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


def table_after(section: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table with this header line in this README section."""
    lines = section.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def schema_type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit(":", 1)[-1]
    if prop["type"] == "array":
        return f"list of {schema_type(prop['items'])}"
    if prop["type"] == "object" and "additionalProperties" in prop:
        return f"map of {schema_type(prop['additionalProperties'])}"
    return str(prop["type"])


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_readme_component_reference_is_the_schema() -> None:
    # Python names from the component's own annotations, the rest from the inferred schema.
    component = provider_schema()["resources"]["ip-masq-agent:index:IpMasqAgent"]
    python_name = {camel_case(name): name for name in IpMasqAgentArgs.__annotations__}
    python_name |= {camel_case(name): name for name in IpMasqAgent.__annotations__}
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it in your own program", 1)[1].split("\n## ", 1)[0]
    arguments = [
        [
            f"`{python_name[key]}`",
            f"`{key}`",
            schema_type(prop),
            "yes" if key in component["requiredInputs"] else "no",
            one_line(prop["description"]),
        ]
        for key, prop in component["inputProperties"].items()
    ]
    outputs = [
        [f"`{python_name[key]}`", f"`{key}`", schema_type(prop), one_line(prop["description"])]
        for key, prop in component["properties"].items()
    ]
    header = "| argument | schema name | type | required | description |"
    assert table_after(section, header) == arguments
    assert table_after(section, "| output | schema name | type | description |") == outputs


def test_recorded_demo_shows_the_local_stacks_agent_args() -> None:
    # The recording is pasted by hand: keep it from drifting from what the DaemonSet runs.
    text = (ROOT / "README.md").read_text()
    demo = text.split("## The sandbox demo", 1)[1].split("\n## ", 1)[0]
    args = " ".join(agent_args(enable_ipv6=False, backend="auto"))  # Pulumi.local.yaml's
    assert f"  agent args: {args}\n" in demo
    assert re.search(r"\n(\d+)/\1 probes as expected\n```", demo)


if __name__ == "__main__":
    # Print the table to paste into the README after changing Pulumi.yaml (the component's
    # tables follow from provider/schema.json the same way; the test prints the difference).
    print("| key | type | default | description |\n|---|---|---|---|")
    for row in expected_rows():
        print("| " + " | ".join(row) + " |")
