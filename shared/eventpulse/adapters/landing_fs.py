"""Filesystem raw landing: content-addressed, create-only (hard link), atomic (temp file + link)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from eventpulse.landing.keys import build_raw_key, ensure_safe_key
from eventpulse.landing.spool import disk_full_refused, spooled
from eventpulse.ports import RawObject


class FilesystemLanding:
    def __init__(self, root: Path, tmp_dir: Path):
        self.root = root.resolve()
        self.tmp_dir = tmp_dir.resolve()

    def put_stream(
        self,
        dataset: str,
        filename: str,
        stream: BinaryIO,
        *,
        max_bytes: int | None,
        source: str | None = None,  # a file has no metadata to keep it in; the ingestion row has it
    ) -> RawObject:
        with spooled(stream, self.tmp_dir, filename=filename, max_bytes=max_bytes) as spool:
            return self._commit(spool.path, dataset, filename, spool.sha256, spool.size)

    def put_file(self, dataset: str, filename: str, path: Path) -> RawObject:
        with open(path, "rb") as src:
            return self.put_stream(dataset, filename, src, max_bytes=None)

    def _commit(self, tmp: Path, dataset: str, filename: str, sha256: str, size: int) -> RawObject:
        key = build_raw_key(dataset, sha256, filename)
        final = self._path(key)
        with disk_full_refused(filename):  # a new folder or directory entry needs a block too
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            try:
                # link() fails when the target exists: the create-only guarantee, atomic on POSIX.
                os.link(tmp, final)
                created = True
            except FileExistsError:
                created = False
        return RawObject(key=key, sha256=sha256, size_bytes=size, created=created, uri=self.uri(key))

    def _path(self, key: str) -> Path:
        path = (self.root / ensure_safe_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"raw key {key!r} escapes the landing root")
        return path

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        yield self._path(key)

    def delete(self, key: str) -> bool:
        """Remove a raw object (only the retention job calls this); False when it was not there."""
        try:
            self._path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()
