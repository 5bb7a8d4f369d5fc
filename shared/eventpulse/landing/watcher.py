"""The incoming-folder watcher: register files dropped under ``incoming/`` once, then archive them.

Which dataset a dropped file belongs to is decided by one pure rule, ``dataset_for``, shared with the
``POST /api/ingest/from_path`` endpoint:

- ``incoming/<dataset>/<anything>``: the first folder names the dataset;
- ``incoming/<dataset>__<anything>.<ext>``: a file directly in ``incoming/`` names it before ``__``.

Files without a resolvable dataset, or that registration refuses (unknown extension, no contract), are
left where they are and logged once per version of the file: moving a user's file somewhere surprising
is worse than a warning, and renaming or moving it into a dataset folder is all it takes to fix it.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from eventpulse.errors import BadRequest, EventPulseError
from eventpulse.landing.register import Registration, register_path
from eventpulse.schema.naming import ensure_dataset_name

if TYPE_CHECKING:
    from eventpulse.ports import Services
    from eventpulse.settings import Settings

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".swp", "~")
"""Names of files still being written by common copy tools and editors."""

NO_DATASET_REASON = "no dataset: move it into incoming/<dataset>/ or name it <dataset>__<name>.<ext>"

Signature = tuple[int, int]
"""(size, mtime in ns): a file whose signature is the same in two polls is no longer being written."""


@dataclass(frozen=True)
class Handled:
    registration: Registration
    archived_to: Path


def dataset_for(relative_path: str | PurePosixPath) -> str | None:
    """The dataset a path relative to ``incoming/`` belongs to, or None when no rule applies (pure)."""
    parts = PurePosixPath(str(relative_path).replace("\\", "/")).parts
    if not parts:
        return None
    if len(parts) >= 2:
        candidate = parts[0]
    elif "__" in parts[0]:
        candidate = parts[0].split("__", 1)[0]
    else:
        return None
    try:
        return ensure_dataset_name(candidate)
    except BadRequest:
        return None


def is_ignored_name(name: str) -> bool:
    """Dotfiles and files that copy tools and editors are still writing."""
    return name.startswith(".") or name.lower().endswith(IGNORED_SUFFIXES)


def archive_file(settings: Settings, path: Path, dataset: str) -> Path:
    """Move ``path`` to ``archive/<dataset>/<UTC date>/<name>``; never overwrites (adds ``-1``, ``-2``…)."""
    folder = settings.archive_dir / dataset / datetime.now(UTC).date().isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(10_000):
        target = folder / (path.name if n == 0 else f"{path.stem}-{n}{path.suffix}")
        try:
            # link() refuses an existing target, so two archivers never overwrite each other.
            os.link(path, target)
        except FileExistsError:
            continue
        except OSError:
            if target.exists():
                continue
            shutil.copy2(path, target)  # another filesystem: copy, then remove the original
        path.unlink()
        return target
    raise EventPulseError(f"archive folder {folder} has too many files named like {path.name!r}")


def register_incoming(services: Services, path: Path, *, dataset: str, source: str, actor: str) -> Handled:
    """Register one incoming file, then archive the original (the watcher and the endpoint share it)."""
    registration = register_path(services, path=path, dataset=dataset, source=source, actor=actor)
    archived = archive_file(services.settings, path, registration.ingestion["dataset"])
    log.info(
        "registered %s as ingestion %s (deduplicated=%s), archived to %s",
        path.name,
        registration.ingestion["id"],
        registration.deduplicated,
        archived,
    )
    return Handled(registration, archived)


def iter_candidates(incoming: Path) -> Iterator[Path]:
    """Regular files under ``incoming``, skipping hidden folders and ignored names."""
    for root, dirs, files in os.walk(incoming):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if not is_ignored_name(name):
                yield Path(root) / name


class Watcher:
    """One polling pass at a time; remembers signatures between passes."""

    def __init__(self, services: Services):
        self.services = services
        self.incoming = services.settings.incoming_dir
        self._previous: dict[Path, Signature] = {}
        self._refused: dict[Path, Signature] = {}

    def poll(self) -> list[Handled]:
        """Register every file whose signature did not change since the previous poll."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        current: dict[Path, Signature] = {}
        handled: list[Handled] = []
        for path in iter_candidates(self.incoming):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            current[path] = signature
            if self._previous.get(path) != signature or self._refused.get(path) == signature:
                continue
            result = self._handle(path, signature)
            if result is not None:
                handled.append(result)
                current.pop(path, None)
        self._previous = current
        self._refused = {p: s for p, s in self._refused.items() if p in current}
        return handled

    def _handle(self, path: Path, signature: Signature) -> Handled | None:
        relative = path.relative_to(self.incoming).as_posix()
        dataset = dataset_for(relative)
        if dataset is None:
            self._refuse(path, signature, NO_DATASET_REASON)
            return None
        try:
            return register_incoming(self.services, path, dataset=dataset, source="watcher", actor="watcher")
        except EventPulseError as exc:
            if exc.retryable:
                log.warning("incoming file %s will be retried: %s", relative, exc.message)
                return None
            self._refuse(path, signature, f"{exc.message} ({exc.hint})" if exc.hint else exc.message)
            return None

    def _refuse(self, path: Path, signature: Signature, reason: str) -> None:
        self._refused[path] = signature
        log.warning("incoming file %s left in place: %s", path.relative_to(self.incoming), reason)


def run_watcher(
    services: Services, *, once: bool = False, stop: threading.Event | None = None
) -> list[Handled]:
    """Poll ``incoming/`` every ``watch_interval_seconds`` until ``stop`` is set.

    ``once`` makes exactly two polls one interval apart (a file must look the same in both), then returns
    what was registered (a long-running watcher returns an empty list).
    """
    stop = stop or threading.Event()
    watcher = Watcher(services)
    interval = services.settings.watch_interval_seconds
    handled: list[Handled] = []
    polls = 0
    while not stop.is_set():
        try:
            result = watcher.poll()
            if once:
                handled.extend(result)
        except Exception:
            # A database or disk hiccup must not kill the watcher; the next poll tries again.
            log.exception("watcher poll failed")
        polls += 1
        if once and polls >= 2:
            break
        stop.wait(interval)
    return handled
