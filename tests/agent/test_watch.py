"""The config watcher notices kubelet's `..data` symlink swap and plain edits, via inotify."""

import struct
import threading
from pathlib import Path

from ip_masq_agent.contract import CONFIG_FILE_NAME
from ip_masq_agent.watch import IN_CREATE, IN_IGNORED, ConfigWatcher, fingerprint, parse_events
from testbed.kubelet.configmap_volume import ConfigMapVolume


class Changes:
    """Counts on_change calls; `wait` returns whether one came (bounded)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        self._event.set()

    def wait(self, timeout: float) -> bool:
        seen = self._event.wait(timeout)
        self._event.clear()
        return seen


def _watch(path: Path) -> tuple[ConfigWatcher, Changes]:
    changes = Changes()
    watcher = ConfigWatcher(str(path), changes)
    watcher.start()
    return watcher, changes


def test_symlink_swap_is_seen(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path, key=CONFIG_FILE_NAME)
    volume.publish("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    watcher, changes = _watch(volume.path)
    try:
        assert watcher.mode == "inotify"
        assert not changes.wait(0.3)  # nothing happened yet: no spurious event
        # Same size and (likely) same mtime second: only the symlink target differs.
        volume.publish("nonMasqueradeCIDRs: [10.1.0.0/8]\n")
        assert changes.wait(1.0)
        volume.withdraw()
        assert changes.wait(1.0)
    finally:
        watcher.stop()


def test_plain_edit_rename_create_and_delete_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "config"
    watcher, changes = _watch(path)
    try:
        path.write_text("a: 1\n")  # created after the watch began
        assert changes.wait(1.0)
        with path.open("a") as handle:  # edited in place
            handle.write("b: 2\n")
        assert changes.wait(1.0)
        staged = tmp_path / ".config.swp"
        staged.write_text("a: 3\n")
        staged.rename(path)  # an editor's save
        assert changes.wait(1.0)
        path.unlink()
        assert changes.wait(1.0)
    finally:
        watcher.stop()


def test_other_entries_of_the_directory_do_not_wake_it(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("a: 1\n")
    watcher, changes = _watch(path)
    try:
        (tmp_path / "neighbour").write_text("busy\n")
        (tmp_path / "neighbour").unlink()
        assert not changes.wait(0.3)
        path.write_text("a: 2\n")
        assert changes.wait(1.0)
    finally:
        watcher.stop()


def test_a_directory_that_cannot_be_watched_falls_back_to_a_stat_poll(tmp_path: Path) -> None:
    missing = tmp_path / "not-yet" / "config"
    watcher, changes = _watch(missing)
    try:
        assert watcher.mode == "poll"
        missing.parent.mkdir()
        missing.write_text("a: 1\n")
        assert changes.wait(3.0)
    finally:
        watcher.stop()


def test_poll_compares_fingerprints(tmp_path: Path) -> None:
    path = tmp_path / "config"
    watcher = ConfigWatcher(str(path), lambda: None)
    try:
        assert not watcher.poll()
        path.write_text("a: 1\n")
        assert watcher.poll()
        assert not watcher.poll()
        path.unlink()
        assert watcher.poll()
        assert fingerprint(str(path)) is None
    finally:
        watcher.stop()


def test_parse_events_reads_names_and_masks() -> None:
    def event(wd: int, mask: int, name: bytes) -> bytes:
        padded = name + b"\0" * (16 - len(name)) if name else b""
        return struct.pack("=iIII", wd, mask, 0, len(padded)) + padded

    data = event(1, IN_CREATE, b"..data_tmp") + event(1, IN_IGNORED, b"")
    assert [(e.wd, e.mask, e.name) for e in parse_events(data)] == [
        (1, IN_CREATE, "..data_tmp"),
        (1, IN_IGNORED, ""),
    ]
