"""Bringing a store's documents in step with files and folders: plan, then read and chunk.

Sync rules: new files are added; a file whose size or mtime changed is hashed, and only a
changed sha256 gets its chunks replaced; an unchanged file costs one stat. Files that
disappeared from (or are now ignored in) a folder given to ingest are removed. Files that
could not be read this time keep their stored version.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.discovery import DiscoveryOptions, discover, discover_below
from ragcli.embedding.base import Embedder
from ragcli.errors import InputNotFoundError, LoadError
from ragcli.records import FileChange, Found, IngestReport, Manifest, Skipped, SyncPlan
from ragcli.store import Store
from ragcli.text.chunking import ChunkBudget, iter_chunks
from ragcli.text.loaders import LoadLimits, load_document, read_source

if TYPE_CHECKING:
    from ragcli.progress import Progress


def check_paths(paths: Sequence[Path]) -> None:
    """Fail before touching the store if any given path is missing."""
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise InputNotFoundError(f"no such file or directory: {path}")


def sync_documents(
    store: Store,
    manifest: Manifest,
    embedder: Embedder,
    paths: Sequence[Path],
    discovery: DiscoveryOptions,
    progress: Progress,
    dry_run: bool = False,
    limits: LoadLimits | None = None,
) -> tuple[IngestReport, SyncPlan]:
    """Add, replace and remove documents (chunked, not embedded); a dry run only plans.

    `limits` bound each file's reading and say whether pages without text are OCR'd
    (None: the default bounds, no OCR).
    """
    report = IngestReport()
    found = list(discover(paths, discovery, report.skipped))
    for skipped in report.skipped:
        if skipped.failed:
            progress.note(f"skipped {skipped.path}: {skipped.reason}")
    plan = plan_sync(store, found, folder_scopes(paths), report.skipped)
    if dry_run:
        return report, plan
    for old, new in plan.to_rename:
        store.rename_document(old, new)
    report.removed = store.remove_documents(plan.to_remove)
    report.unchanged = plan.unchanged
    budget = ChunkBudget(manifest.chunking, manifest.max_text_tokens, embedder.count_tokens)
    progress.start("Reading files", len(plan.to_read))
    for item in plan.to_read:
        try:
            _count(report, _store_file(store, item, budget, limits or LoadLimits()))
        except LoadError as exc:
            report.skipped.append(Skipped(str(item.path), exc.message, failed=True))
            progress.note(f"skipped {item.path}: {exc.message}")
        progress.advance(1)
    return report, plan


def sync_changes(
    store: Store,
    manifest: Manifest,
    embedder: Embedder,
    root: Path,
    changed: Sequence[Path],
    discovery: DiscoveryOptions,
    limits: LoadLimits | None = None,
) -> list[FileChange]:
    """Bring the documents at or below changed paths of a walked folder in step.

    The same rules as a sync of the whole folder, applied to the changed paths only; a
    document gone from one path whose content turns up new at another is renamed. A file
    that vanishes or changes while it is read is left to the change event that follows.
    Only documents inside `root` can be removed, whatever a changed path links to.
    """
    skipped: list[Skipped] = []
    items = {item.path: item for item in discover_below(root, changed, discovery, skipped)}
    plan = plan_sync(store, list(items.values()), change_scopes(root, changed), skipped)
    # A file passed over on purpose is said when it is what changed (a link made); the
    # files a folder's walk passes over again were said when it was first synced.
    named = {str(path) for path in changed}
    changes = [_skipped(s.path, s.reason, s.failed) for s in skipped if s.failed or s.path in named]
    for old, new in plan.to_rename:
        store.rename_document(old, new)
    moves = _moves(store, plan)
    for new, old in moves.items():
        store.rename_document(old, new)
        changes.append(FileChange(action="renamed", path=new, old_path=old))
    gone = [path for path in plan.to_remove if path not in moves.values()]
    store.remove_documents(gone)
    changes += [FileChange(action="removed", path=path) for path in gone]
    budget = ChunkBudget(manifest.chunking, manifest.max_text_tokens, embedder.count_tokens)
    for item in plan.to_read:
        before = _stat(item.path)
        try:
            change = _store_file(store, item, budget, limits or LoadLimits())
        except LoadError as exc:
            if before is not None and _stat(item.path) == before:
                changes.append(_skipped(str(item.path), exc.message))
            continue
        if change is not None:
            changes.append(change)
    return changes


def folder_scopes(paths: Sequence[Path]) -> list[str]:
    """Where the folders given to a sync keep their documents: as given and resolved.

    Documents are stored under resolved paths; older stores kept the path as given.
    """
    folders = [path for path in paths if path.is_dir()]
    return sorted({s for f in folders for s in (str(f.absolute()), os.path.realpath(f))})


def change_scopes(root: Path, changed: Sequence[Path]) -> list[str]:
    """Where the documents of changed paths in a walked folder can be, never outside it.

    A changed path's last part is not resolved: a link is an entry of the folder, and what
    it leads to (`/`, `..`, a sibling folder) is not. Nor can a link higher up carry the
    scope out of the folder: a scope outside `root` is dropped.
    """
    given, real = str(root.absolute()), os.path.realpath(root)
    scopes: set[str] = set()
    for path in changed:
        spelled = os.path.normpath(path.absolute())
        if spelled == os.path.normpath(given):
            scopes.update((given, real))
            continue
        resolved = os.path.join(os.path.realpath(os.path.dirname(spelled)), path.name)
        scopes.update(s for s, bound in ((spelled, given), (resolved, real)) if _under(s, bound))
    return sorted(scopes)


def plan_sync(
    store: Store, found: list[Found], scopes: Sequence[str], skipped: list[Skipped]
) -> SyncPlan:
    """Sort found files into unchanged (same size and mtime) and to-read; find removals.

    A stored document at or below one of `scopes` (resolved spellings of the folders walked,
    or of the paths a watch saw change) that was not found is removed.
    """
    to_read: list[Found] = []
    unchanged = 0
    to_rename: list[tuple[str, str]] = []
    stored: set[str] = set()
    for item in found:
        state = store.document_state(str(item.path))
        if state is None and item.given != item.path:
            state = store.document_state(str(item.given))
            if state is not None:
                to_rename.append((str(item.given), str(item.path)))
                stored.add(str(item.path))
        try:
            stat = item.path.stat()
        except OSError:
            to_read.append(item)  # reading it will report what is wrong
            continue
        if state is not None and state[0] == stat.st_size and state[1] == stat.st_mtime:
            unchanged += 1
        else:
            to_read.append(item)
    seen = {str(item.path) for item in found} | {old for old, _ in to_rename}
    # Anything under a folder that could not be walked may still exist: never remove it.
    protected = [p for s in skipped if s.failed for p in (s.path, os.path.realpath(s.path))]
    to_remove = []
    for under in scopes:
        exact = [under] if store.document_state(under) is not None else []
        for path in exact + store.document_paths(under=under):
            stored.add(path)
            if path not in seen and not _under_any(path, protected):
                to_remove.append(path)
    return SyncPlan(to_read, unchanged, sorted(set(to_remove)), stored, to_rename)


def _under_any(path: str, folders: list[str]) -> bool:
    return any(_under(path, folder) for folder in folders)


def _under(path: str, folder: str) -> bool:
    """Whether a path is the folder or lies below it (by spelling)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _store_file(
    store: Store, item: Found, budget: ChunkBudget, limits: LoadLimits
) -> FileChange | None:
    """Store a file's chunks unless its content is what is stored; LoadError if unreadable."""
    path = str(item.path)
    source = read_source(item.path)
    state = store.document_state(path)
    if state is not None and state[2] == source.sha256:
        store.touch_document(source)
        return None
    document = load_document(source, item.kind, limits)
    count = store.replace_document(source, item.kind, iter_chunks(document, budget))
    return FileChange(action="added" if state is None else "updated", path=path, chunks=count)


def _count(report: IngestReport, change: FileChange | None) -> None:
    if change is None:
        report.unchanged += 1
        return
    report.chunks_added += change.chunks or 0
    if change.action == "added":
        report.added += 1
    else:
        report.updated += 1


def _moves(store: Store, plan: SyncPlan) -> dict[str, str]:
    """Pair files new to the store with documents to remove that hold the same bytes."""
    gone: dict[tuple[int, str], str] = {}
    for path in plan.to_remove:
        state = store.document_state(path)
        if state is not None:
            gone.setdefault((state[0], state[2]), path)
    sizes = {size for size, _ in gone}
    moves: dict[str, str] = {}
    for item in plan.to_read:
        new = str(item.path)
        stat = _stat(item.path)
        if stat is None or stat[0] not in sizes or store.document_state(new) is not None:
            continue
        try:
            digest = read_source(item.path).sha256
        except LoadError:
            continue  # reading it again says why
        old = gone.pop((stat[0], digest), None)
        if old is not None:
            moves[new] = old
    return moves


def _skipped(path: str, reason: str, failed: bool = True) -> FileChange:
    return FileChange(action="skipped", path=path, reason=reason, failed=failed)


def _stat(path: Path) -> tuple[int, float] | None:
    """A file's (size, mtime), or None when it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime
