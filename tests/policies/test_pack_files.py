"""The pack's files agree with the repository: pins, policy config per stack, entry point."""

import json
import re
from pathlib import Path

import pytest
import yaml

from pulumi_ip_masq_agent import __version__
from pulumi_ip_masq_agent.policy.pack import POLICIES
from pulumi_ip_masq_agent.testing.offline_policy import enforcement_of

REPO = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def test_pack_requirements_match_repository_pins() -> None:
    pack, repo = pins(REPO / "policies/requirements.txt"), pins(REPO / "requirements.txt")
    assert {"pulumi", "pulumi-policy", "pyyaml"} <= set(pack)
    # The pack names the package (whose policies it runs) at this checkout's version.
    assert pack.pop("pulumi-ip-masq-agent[policy]") == __version__
    assert {name: repo.get(name) for name in pack} == pack


def test_pack_directory_is_the_whole_pack() -> None:
    # Publishable: nothing but the pack's own files, and no reaching outside the directory.
    names = {p.name for p in (REPO / "policies").iterdir() if p.name != "__pycache__"}
    assert names == {"PulumiPolicy.yaml", "__main__.py", "requirements.txt", "config"}
    entry = (REPO / "policies/__main__.py").read_text()
    assert "sys.path" not in entry
    assert "from pulumi_ip_masq_agent.policy.pack import" in entry


def test_policy_pack_yaml_points_at_the_repository_virtualenv() -> None:
    document = yaml.safe_load((REPO / "policies/PulumiPolicy.yaml").read_text())
    assert document["runtime"]["name"] == "python"
    assert (REPO / "policies" / document["runtime"]["options"]["virtualenv"]).resolve() == (
        REPO / ".venv"
    ).resolve()


CONFIG_FILES = sorted((REPO / "policies/config").glob("*.json"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.stem for p in CONFIG_FILES])
def test_policy_config_files_name_real_policies_and_keys(path: Path) -> None:
    config = json.loads(path.read_text())
    by_name = {policy.name: policy for policy in POLICIES}
    for name, entry in config.items():
        assert name in by_name or name == "all", f"{path.name}: unknown policy {name}"
        if isinstance(entry, dict):
            schema = by_name[name].config_schema
            allowed = set(schema.properties) if schema else set()
            assert set(entry) - {"enforcementLevel"} <= allowed, f"{path.name}: {name}"
        enforcement_of(by_name.get(name, POLICIES[0]), config)  # a valid level


def test_every_previewed_stack_has_a_policy_config() -> None:
    workflow = (REPO / ".github/workflows/preview.yml").read_text()
    assert "policies/config/${{ matrix.stack }}.json" in workflow
    assert {p.stem for p in CONFIG_FILES} >= {"dev", "prod"}
