"""The README's configuration reference is Pulumi.yaml's config block, row for row."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

from pulumi_ip_masq_agent.daemon_set import agent_args
from pulumi_ip_masq_agent.gke_ip_masq_agent import GkeIpMasqAgent, GkeIpMasqAgentArgs
from pulumi_ip_masq_agent.ip_masq_agent import IpMasqAgent, IpMasqAgentArgs
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


REFERENCE = ROOT / "docs" / "reference.md"  # every setting, argument and flag, checked here


def readme_rows() -> list[list[str]]:
    text = REFERENCE.read_text()
    section = text.split("## Stack configuration", 1)[1].split("\n## ", 1)[0]
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


ARGUMENTS_HEADER = "| argument | schema name | type | required | description |"
OUTPUTS_HEADER = "| output | schema name | type | description |"


def reference_rows(
    component: str, args_type: type, component_type: type, *, leave_out: str | None = None
) -> tuple[list[list[str]], list[list[str]]]:
    """The argument and output rows of a component's reference tables, from the inferred schema
    (Python names from the component's own annotations); without those of `leave_out`'s."""
    resources = provider_schema()["resources"]
    resource = resources[f"ip-masq-agent:index:{component}"]
    left_out = resources[f"ip-masq-agent:index:{leave_out}"] if leave_out else {}
    python_name = {camel_case(name): name for name in args_type.__annotations__}
    python_name |= {camel_case(name): name for name in component_type.__annotations__}
    arguments = [
        [
            f"`{python_name[key]}`",
            f"`{key}`",
            schema_type(prop),
            "yes" if key in resource["requiredInputs"] else "no",
            one_line(prop["description"]),
        ]
        for key, prop in resource["inputProperties"].items()
        if key not in left_out.get("inputProperties", {})
    ]
    outputs = [
        [f"`{python_name[key]}`", f"`{key}`", schema_type(prop), one_line(prop["description"])]
        for key, prop in resource["properties"].items()
        if key not in left_out.get("properties", {})
    ]
    return arguments, outputs


def readme_after(marker: str, path: Path = ROOT / "README.md") -> str:
    text = path.read_text()
    assert marker in text, f"{path.name}: no {marker!r}"
    return text.split(marker, 1)[1]


def test_readme_component_reference_is_the_schema() -> None:
    arguments, outputs = reference_rows("IpMasqAgent", IpMasqAgentArgs, IpMasqAgent)
    section = readme_after("`IpMasqAgent` (`ip-masq-agent:index:IpMasqAgent`)", REFERENCE)
    assert table_after(section, ARGUMENTS_HEADER) == arguments
    assert table_after(section, OUTPUTS_HEADER) == outputs


def test_readme_gke_ip_masq_agent_reference_is_the_schema() -> None:
    # Its own arguments and outputs; the ones passed through are IpMasqAgent's (test_provider.py
    # checks they are equal in the schema), documented once in IpMasqAgent's table.
    arguments, outputs = reference_rows(
        "GkeIpMasqAgent", GkeIpMasqAgentArgs, GkeIpMasqAgent, leave_out="IpMasqAgent"
    )
    section = readme_after("`GkeIpMasqAgent` (`ip-masq-agent:index:GkeIpMasqAgent`)", REFERENCE)
    assert table_after(section, ARGUMENTS_HEADER) == arguments
    assert table_after(section, OUTPUTS_HEADER) == outputs


def other_language_examples(language: str) -> list[str]:
    section = readme_after("### Other languages: `pulumi package add`").split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def schema_names(component: str) -> tuple[set[str], set[str]]:
    """The component's input names and a Range's field names."""
    found = provider_schema()
    inputs = set(found["resources"][f"ip-masq-agent:index:{component}"]["inputProperties"])
    return inputs, set(found["types"]["ip-masq-agent:index:Range"]["properties"])


def test_readme_typescript_examples_name_only_schema_properties() -> None:
    examples = other_language_examples("typescript")
    constructed = [
        (component, body)
        for example in examples
        for component, body in re.findall(
            r'new ipmasq\.(\w+)\("[^"]*", \{\n(.*?)\n\}', example, flags=re.DOTALL
        )
    ]
    assert {component for component, _ in constructed} == {"GkeIpMasqAgent", "IpMasqAgent"}
    for component, body in constructed:
        inputs, range_fields = schema_names(component)
        assert set(re.findall(r"^    (\w+):", body, flags=re.MULTILINE)) <= inputs, component
        for literal in re.findall(r"\{ ([^}]*) \}", body):
            assert set(re.findall(r"(\w+): ", literal)) <= range_fields, literal


def test_readme_yaml_example_names_only_schema_properties() -> None:
    (example,) = other_language_examples("yaml")
    resources = yaml.safe_load(example)["resources"]
    for resource in resources.values():
        package, component = resource["type"].split(":")
        assert package == "ip-masq-agent"
        inputs, range_fields = schema_names(component)
        assert set(resource["properties"]) <= inputs
        for item in resource["properties"].get("extraRanges", []):
            assert set(item) <= range_fields
    # The derivation from any language: no CIDR but the user's own extra range.
    gke = next(r for r in resources.values() if r["type"] == "ip-masq-agent:GkeIpMasqAgent")
    assert set(gke["properties"]) >= {"subnetwork", "cluster"}


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
    for rows in reference_rows(
        "GkeIpMasqAgent", GkeIpMasqAgentArgs, GkeIpMasqAgent, leave_out="IpMasqAgent"
    ):
        print()
        for row in rows:
            print("| " + " | ".join(row) + " |")
