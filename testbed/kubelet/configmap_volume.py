"""A ConfigMap volume laid out as kubelet writes it: `..data` swapped atomically to a new dir."""

import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path


class ConfigMapVolume:
    """`<dir>/<key>` -> `..data/<key>`, `..data` -> `..<timestamp>/`; updates swap `..data`.

    kubelet's atomic writer renames a fresh `..data_tmp` symlink over `..data`, so a reader
    sees the old file or the new one, never a partial write; a reader must notice the swap
    (the path it opened never changes).
    """

    def __init__(self, directory: Path, key: str | None = None) -> None:
        self.directory = directory
        self._key = key  # the file a reader opens, for path/publish/withdraw; kubelet needs none
        self._serial = 0
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def key(self) -> str:
        if self._key is None:
            raise ValueError(f"ConfigMapVolume {self.directory}: no key to read or publish")
        return self._key

    @property
    def path(self) -> Path:
        """The file a reader opens (the agent: `--config`)."""
        return self.directory / self.key

    def project(self, files: Mapping[str, bytes], links: Iterable[str] | None = None) -> None:
        """Swap in a new version holding exactly these files (path -> contents), as kubelet does.

        Each of `links` (default: the files) gets its `<name> -> ..data/<name>` link once.
        """
        self._serial += 1
        stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime())
        fresh = self.directory / f"..{stamp}.{os.getpid()}{self._serial:06d}"
        fresh.mkdir()
        for name, contents in files.items():
            (fresh / name).write_bytes(contents)
        data = self.directory / "..data"
        old = data.resolve() if data.is_symlink() else None
        tmp = self.directory / "..data_tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(fresh.name)
        tmp.rename(data)
        for name in files if links is None else links:
            user_link = self.directory / name
            if not user_link.is_symlink():
                user_link.symlink_to(f"..data/{name}")
        if old is not None and old != fresh:
            shutil.rmtree(old, ignore_errors=True)

    def publish(self, contents: str | bytes) -> None:
        """Write a new version of the ConfigMap data."""
        self.project({self.key: contents.encode() if isinstance(contents, str) else contents})

    def withdraw(self) -> None:
        """The ConfigMap is gone: the key no longer resolves (an optional volume empties)."""
        self.project({}, links=(self.key,))
