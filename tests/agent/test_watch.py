"""The config watcher notices kubelet's `..data` symlink swap and plain edits."""

import os
import threading
import time
from pathlib import Path

from ip_masq_agent.watch import ConfigWatcher, fingerprint
from netlab.configmap_volume import ConfigMapVolume


def test_symlink_swap_is_seen_within_a_second(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path)
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    changed = threading.Event()
    watcher = ConfigWatcher(str(volume.path), changed.set, interval=0.1)
    watcher.start()
    try:
        assert not changed.wait(0.3)  # nothing happened yet: no spurious event
        started = time.monotonic()
        # Same size and (likely) same mtime second: only the symlink target differs.
        volume.publish("nonMasqueradeCIDRs: [10.1.0.0/8]\n")
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
