"""The image's Debian packages: pinned, still in the archive, and only those the agent runs."""

import re
from pathlib import Path

import pytest

from agent_image.build import (
    BASE_IMAGE,
    SIZE_LIMIT,
    BuiltImage,
    ensure_base,
    image_size,
    mounted_image,
)
from agent_image.podman import podman, run_argv
from tests.conftest import image_unavailable
from tests.unavailable import cannot_run_here

pytestmark = pytest.mark.kernel

DOCKERFILE = Path(__file__).resolve().parents[2] / "agent_image" / "Dockerfile"
# What the agent runs, by name; everything else in the image is a library one of them links.
TOP_LEVEL_ALLOWED = {
    "python3-minimal",
    "libpython3.11-stdlib",  # the standard library past the minimal core: http.server, logging
    "python3-yaml",
    "python3-prometheus-client",
    "iptables",
    "nftables",
    "netbase",  # /etc/protocols and /etc/services, which iptables and nft resolve names with
    "media-types",  # /etc/mime.types, read by the standard library's mimetypes (http.server)
}
FORBIDDEN_PATHS = ("bin/sh", "usr/bin/bash", "usr/bin/apt-get", "usr/bin/dpkg", "usr/share/doc")


def pinned_packages() -> dict[str, str]:
    """`name=version` of the Dockerfile's apt-get install."""
    install = DOCKERFILE.read_text().split("apt-get install", 1)[1].split("&&", 1)[0]
    return dict(re.findall(r"^\s+([a-z0-9][a-z0-9.+-]+)=(\S+) \\$", install, re.M))


def parse_records(text: str) -> list[dict[str, str]]:
    records = []
    for stanza in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        records.append(fields)
    return records


def depended_on(record: dict[str, str]) -> set[str]:
    names = ",".join(record.get(k, "") for k in ("Depends", "Pre-Depends")).replace("|", ",")
    return {part.split()[0].split(":")[0] for part in names.split(",") if part.strip()}


def test_every_package_installed_is_pinned() -> None:
    pins = pinned_packages()
    assert len(pins) >= 20 and "python3.11-minimal" in pins
    assert "--no-install-recommends" in DOCKERFILE.read_text()


def test_the_archive_still_has_every_pinned_version() -> None:
    reason = image_unavailable()
    if reason is not None:
        cannot_run_here(reason)
    ensure_base()
    pins = pinned_packages()
    # One apt-get update in a throwaway container of the base (the Dockerfile's FROM), then
    # every version the archive offers for the pinned names: seconds, mostly the index download.
    done = podman(
        run_argv(
            "--rm", BASE_IMAGE, "sh", "-c",
            'apt-get update -qq >/dev/null && apt-cache madison "$@"', "madison", *sorted(pins),
        ),
        timeout=300,
    )  # fmt: skip
    offered: dict[str, set[str]] = {}
    for line in done.stdout.splitlines():
        name, version, _ = (part.strip() for part in line.split("|", 2))
        offered.setdefault(name, set()).add(version)
    gone = {
        name: f"pinned {version}, archive has {sorted(offered.get(name, ())) or 'none'}"
        for name, version in pins.items()
        if version not in offered.get(name, set())
    }
    assert gone == {}, "bump these pins in agent_image/Dockerfile deliberately"


def test_the_image_ships_only_what_the_agent_runs(agent_image: BuiltImage) -> None:
    assert image_size(agent_image.image_id) <= SIZE_LIMIT
    with mounted_image(agent_image.image_id) as root:
        records = [
            parse_records(p.read_text())[0]
            for p in sorted((root / "var/lib/dpkg/status.d").iterdir())
        ]
        present = [path for path in FORBIDDEN_PATHS if (root / path).exists()]
        share = root / "usr/share"
        locales = [*share.glob("locale*"), *share.glob("man")]
    shipped = {r["Package"]: r for r in records}
    needed = set().union(*(depended_on(r) for r in records))
    top_level = set(shipped) - needed
    assert top_level - TOP_LEVEL_ALLOWED == set(), "not allowed at the top level"
    # Every package whose files ship is pinned, at the version that shipped.
    pins = pinned_packages()
    assert {name: r["Version"] for name, r in shipped.items()} == {
        name: pins.get(name) for name in shipped
    }
    assert present == [] and locales == []


def test_the_pins_parse_as_debian_versions() -> None:
    # A typo (`python3-yaml-6.0`) would otherwise be installed unpinned by a later edit.
    for name, version in pinned_packages().items():
        assert re.fullmatch(r"(\d+:)?[0-9][A-Za-z0-9.+~-]*", version), name
    assert DOCKERFILE.read_text().count("apt-get install") == 1
