"""Following watched folders: which changed paths matter, where they belong, when to write.

`rag ingest DIR --watch` syncs only the paths that changed (syncing.sync_changes), under
the same rules as a sync of the whole folder. Before that, events that cannot matter are
dropped here, so they never wake the store: anything in the store's own folder (its
writes would otherwise trigger themselves), paths in hidden or never-wanted folders, and
editors' scratch files. An ignore file's change stands for its whole folder.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcli.discovery.ignore_rules import IGNORE_FILES, NEVER_WANTED
from ragcli.errors import InputNotFoundError, StoreLockedError, UsageError
from ragcli.store import Store

# Scratch files editors write beside a file they save: vim's swap files and its `4913`
# write test, backups ending in `~`, emacs's `#autosave#`.
SCRATCH_SUFFIXES = ("~", ".swp", ".swo", ".swx")
SCRATCH_NAMES = frozenset({"4913"})
# How often a busy writer lock is tried again.
LOCK_RETRY_S = 0.25


@dataclass(frozen=True)
class WatchedFolder:
    """A folder followed: as given to ingest (absolute) and resolved, as events name it."""

    given: Path
    real: str


@dataclass(frozen=True)
class WatchScope:
    """The folders watched and the store's own folder, whose writes are never a change."""

    folders: tuple[WatchedFolder, ...]
    store: str

    @classmethod
    def of(cls, paths: Sequence[Path], store_dir: Path) -> WatchScope:
        """The scope of a watch of these folders; anything else given is a usage error."""
        folders = []
        for path in paths:
            if not path.is_dir():
                raise UsageError(f"--watch follows folders; {path} is not one")
            folders.append(WatchedFolder(path.absolute(), os.path.realpath(path)))
        return cls(tuple(folders), os.path.realpath(store_dir))

    def wanted(self, path: str) -> bool:
        """Whether a changed path can matter to the store (cheap: runs for every event)."""
        if _inside(path, self.store):
            return False
        folder = self.folder_of(path)
        if folder is None:
            return False
        parts = Path(os.path.relpath(path, folder.real)).parts
        if not parts or parts == (".",):
            return True
        *above, name = parts
        if any(part.startswith(".") or part in NEVER_WANTED for part in above):
            return False
        if name in IGNORE_FILES:
            return True
        return not (name.startswith(".") or name in NEVER_WANTED or _scratch(name))

    def folder_of(self, path: str) -> WatchedFolder | None:
        """The first watched folder a resolved path lies in, or None."""
        return next((f for f in self.folders if _inside(path, f.real)), None)

    def changed(self, paths: set[str]) -> dict[WatchedFolder, list[Path]]:
        """The paths to sync in each folder, spelled as its walk does; outermost only."""
        by_folder: dict[WatchedFolder, list[Path]] = {}
        for path in sorted(paths, key=os.fsencode):
            folder = self.folder_of(path)
            if folder is None or not self.wanted(path):
                continue
            if os.path.basename(path) in IGNORE_FILES:
                path = os.path.dirname(path)  # what it leaves out changed everywhere below
            spelled = folder.given / os.path.relpath(path, folder.real)
            by_folder.setdefault(folder, []).append(Path(os.path.normpath(spelled)))
        return {folder: _outermost(paths) for folder, paths in by_folder.items()}

    def check_store(self) -> None:
        """Fail if a watched folder is the store's folder or lies in it: nothing would sync."""
        for folder in self.folders:
            if _inside(folder.real, self.store):
                raise UsageError(
                    f"--watch cannot follow {folder.given}: it lies in the store {self.store}, "
                    "whose own writes are never a change",
                    "keep the store outside the watched folder (--store DIR)",
                )


class FolderPins:
    """Open handles on the watched folders, to tell whether each is still the one watched.

    A folder deleted and made again is a new folder that nothing watches; seen by its
    path alone, that depends on timing (and its inode number may be reused). A folder held
    open keeps its inode, which then says it was deleted (no links left) or replaced.
    """

    def __init__(self, scope: WatchScope) -> None:
        self._pins: list[tuple[WatchedFolder, int]] = []
        try:
            for folder in scope.folders:
                fd = os.open(folder.given, os.O_RDONLY | os.O_DIRECTORY)
                self._pins.append((folder, fd))
        except OSError as exc:
            self.close()
            raise InputNotFoundError(f"cannot watch {folder.given}: {exc.strerror}") from exc

    def check(self) -> None:
        """Fail if a watched folder is gone or replaced: its documents stay, nothing is removed."""
        for folder, fd in self._pins:
            held = os.fstat(fd)
            try:
                now = os.stat(folder.given)
            except OSError:
                now = None
            if now is None or not stat.S_ISDIR(now.st_mode):
                raise InputNotFoundError(
                    f"the watched folder {folder.given} is gone", "its documents are kept"
                )
            if held.st_nlink == 0 or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
                raise InputNotFoundError(
                    f"the watched folder {folder.given} was replaced by a new folder",
                    f"its documents are kept; run rag ingest {folder.given} --watch again",
                )

    def close(self) -> None:
        """Let go of the folders."""
        for _folder, fd in self._pins:
            os.close(fd)
        self._pins = []

    def __enter__(self) -> FolderPins:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_when_free(
    store_dir: Path, on_wait: Callable[[str], None], vectors_token: str | None = None
) -> Store:
    """Open the store for writing, trying again while another process holds its lock.

    The wait is in short sleeps, so Ctrl-C ends it at once (a blocked flock would not).
    """
    said = False
    while True:
        try:
            return Store.open(store_dir, write=True, wait=False, vectors_token=vectors_token)
        except StoreLockedError:
            if not said:
                on_wait(f"waiting for another rag process to finish writing {store_dir}")
                said = True
            time.sleep(LOCK_RETRY_S)


def _outermost(paths: list[Path]) -> list[Path]:
    """Drop paths that lie in another path of the list (its sync covers them)."""
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: os.fsencode(str(p))):
        if not any(_inside(str(path), str(outer)) for outer in kept):
            kept.append(path)
    return kept


def _inside(path: str, folder: str) -> bool:
    """Whether a path is the folder or lies below it (by spelling: no file is read)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _scratch(name: str) -> bool:
    """Whether a file name is an editor's scratch file, never a document."""
    if name in SCRATCH_NAMES or name.endswith(SCRATCH_SUFFIXES):
        return True
    return len(name) > 1 and name.startswith("#") and name.endswith("#")
