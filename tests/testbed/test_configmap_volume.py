"""The kubelet-style ConfigMap volume: one stable path, contents swapped whole."""

import os
from pathlib import Path

import pytest

from testbed.kubelet.configmap_volume import ConfigMapVolume


def test_layout_is_kubelets(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path / "etc-config", key="config")
    volume.publish("a: 1\n")
    assert volume.path == tmp_path / "etc-config" / "config"
    assert os.readlink(volume.path) == "..data/config"
    data = tmp_path / "etc-config" / "..data"
    assert data.is_symlink() and os.readlink(data).startswith("..")
    assert volume.path.read_text() == "a: 1\n"


def test_publish_swaps_data_and_drops_the_old_version(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path, key="config")
    volume.publish("first\n")
    first = (tmp_path / "..data").resolve()
    volume.publish(b"\x00second")
    assert volume.path.read_bytes() == b"\x00second"
    assert not first.exists()
    versions = [p.name for p in tmp_path.iterdir() if p.name.startswith("..") and p.is_dir()]
    assert len(versions) == 2  # the current version and the ..data link to it
    assert not (tmp_path / "..data_tmp").exists()


def test_withdraw_makes_the_file_disappear_but_keeps_the_path(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path, key="config")
    volume.publish("x: 1\n")
    volume.withdraw()
    assert not volume.path.exists() and volume.path.is_symlink()
    volume.publish("y: 2\n")
    assert volume.path.read_text() == "y: 2\n"


def test_project_swaps_several_files_at_once(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path, key="config")
    volume.project({"a": b"1", "b": b"2"})
    assert os.readlink(tmp_path / "a") == "..data/a" and (tmp_path / "b").read_bytes() == b"2"
    volume.project({"a": b"3"})
    assert (tmp_path / "a").read_bytes() == b"3" and not (tmp_path / "b").exists()


def test_a_volume_without_a_key_projects_but_names_no_file(tmp_path: Path) -> None:
    # The kubelet's volumes hold whatever keys the ConfigMap has; only a reader names one.
    volume = ConfigMapVolume(tmp_path)
    volume.project({"a": b"1", "b": b"2"})
    assert (tmp_path / "a").read_bytes() == b"1"
    with pytest.raises(ValueError, match="no key"):
        _ = volume.path
