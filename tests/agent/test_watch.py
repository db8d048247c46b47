"""The config watcher notices kubelet's `..data` symlink swap and plain edits."""

import os
import threading
import time
from pathlib import Path

from ip_masq_agent.watch import ConfigWatcher, fingerprint


def _kubelet_layout(volume: Path, version: str, text: str) -> None:
    """What kubelet's atomic writer does: new timestamped dir, `..data` swapped by rename."""
    data_dir = volume / f"..{version}"
    data_dir.mkdir()
    (data_dir / "config").write_text(text)
    tmp_link = volume / "..data_tmp"
    tmp_link.symlink_to(data_dir.name)
    os.replace(tmp_link, volume / "..data")
    if not (volume / "config").is_symlink():
        (volume / "config").symlink_to("..data/config")


def test_symlink_swap_is_seen_within_a_second(tmp_path: Path) -> None:
    _kubelet_layout(tmp_path, "2026_01_01_00_00_00.1", "nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    changed = threading.Event()
    watcher = ConfigWatcher(str(tmp_path / "config"), changed.set, interval=0.1)
    watcher.start()
    try:
        assert not changed.wait(0.3)  # nothing happened yet: no spurious event
        started = time.monotonic()
        # Same size and (likely) same mtime second: only the symlink target differs.
        _kubelet_layout(tmp_path, "2026_01_01_00_00_00.2", "nonMasqueradeCIDRs: [10.1.0.0/8]\n")
        assert changed.wait(1.0)
        assert time.monotonic() - started < 1.0
    finally:
        watcher.stop()


def test_poll_sees_create_edit_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "config"
    events: list[str] = []
    watcher = ConfigWatcher(str(path), lambda: events.append("changed"))
    assert not watcher.poll()
    path.write_text("a: 1\n")
    assert watcher.poll()
    os.utime(path, ns=(1, 1))
    assert watcher.poll()
    assert not watcher.poll()
    path.unlink()
    assert watcher.poll()
    assert fingerprint(str(path)) is None
    assert events == ["changed"] * 3
