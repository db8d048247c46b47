"""The release workflow does what a release promises, in order, with the least permissions."""

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github/workflows/release.yml"


def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def steps(job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow()["jobs"][job]["steps"]
    return found


def uses(job: str) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps(job) if "uses" in step]


def test_only_a_version_tag_releases() -> None:
    # YAML reads the key `on` as True.
    assert workflow()[True] == {"push": {"tags": ["v*"]}}
    assert workflow()["permissions"] == {"contents": "read"}


def test_everything_waits_for_the_tests_and_the_tag_names_the_version() -> None:
    jobs = workflow()["jobs"]
    assert "make test" in [step.get("name") for step in steps("test")]
    assert "_version.py" in next(s["run"] for s in steps("test") if s.get("id") == "version")
    assert jobs["image"]["needs"] == ["test", "test-arm64"] and jobs["dist"]["needs"] == "test"
    # arm64 natively: the image's own iptables and nft against an arm64 kernel.
    assert jobs["test-arm64"]["runs-on"].endswith("-arm")
    assert "tests/sandbox/test_container.py" in steps("test-arm64")[-1]["run"]
    assert set(jobs["pypi"]["needs"]) == {"dist", "image"}
    assert {"image", "pypi"} <= set(jobs["release"]["needs"])


def test_image_is_one_manifest_list_for_both_architectures_signed_with_an_sbom() -> None:
    build = next(s for s in steps("image") if s.get("id") == "build")["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert build["context"] == "agent_image" and build["sbom"] is True
    assert "SOURCE_DATE_EPOCH" in build["build-args"] and "VERSION" in build["build-args"]
    assert workflow()["env"]["IMAGE"].startswith("ghcr.io/")
    assert {"docker/setup-qemu-action", "sigstore/cosign-installer"} <= set(uses("image"))
    signing = next(s for s in steps("image") if s.get("name") == "sign and attest")["run"]
    assert "cosign sign --yes" in signing and "cosign attest --yes" in signing
    # Keyless: no key material anywhere, an OIDC token instead.
    assert "COSIGN_PRIVATE_KEY" not in WORKFLOW.read_text()
    permissions = workflow()["jobs"]["image"]["permissions"]
    assert permissions == {"contents": "read", "packages": "write", "id-token": "write"}


def test_pypi_by_trusted_publishing_only() -> None:
    job = workflow()["jobs"]["pypi"]
    assert job["permissions"] == {"id-token": "write"} and job["environment"] == "pypi"
    assert uses("pypi")[-1] == "pypa/gh-action-pypi-publish"
    assert "password" not in str(job) and "PYPI" not in str(job)
    assert "python -m build" in next(s["run"] for s in steps("dist") if "run" in s)


def test_release_notes_carry_the_image_digest() -> None:
    job = workflow()["jobs"]["release"]
    run = steps("release")[-1]
    assert run["env"]["DIGEST"] == "${{ needs.image.outputs.digest }}"
    assert "$IMAGE@$DIGEST" in run["run"] and "gh release create" in run["run"]
    assert job["permissions"] == {"contents": "write"}
