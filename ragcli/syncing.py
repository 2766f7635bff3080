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

from ragcli.backends.embedders import Embedder
from ragcli.discovery import DiscoveryOptions, discover
from ragcli.errors import InputNotFoundError, LoadError
from ragcli.records import Found, IngestReport, Manifest, Skipped, SyncPlan
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
    plan = plan_sync(store, found, paths, report.skipped)
    if dry_run:
        return report, plan
    for old, new in plan.to_rename:
        store.rename_document(old, new)
    report.removed = store.remove_documents(plan.to_remove)
    report.unchanged = plan.unchanged
    budget = ChunkBudget(manifest.chunking, manifest.max_text_tokens, embedder.count_tokens)
    progress.start("Reading files", len(plan.to_read))
    for item in plan.to_read:
        _sync_file(store, item, budget, report, progress, limits or LoadLimits())
        progress.advance(1)
    return report, plan


def plan_sync(
    store: Store, found: list[Found], roots: Sequence[Path], skipped: list[Skipped]
) -> SyncPlan:
    """Sort found files into unchanged (same size and mtime) and to-read; find removals."""
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
    for root in roots:
        if not root.is_dir():
            continue
        # Documents are stored under resolved paths; older stores kept the path as given.
        for under in {str(root.absolute()), os.path.realpath(root)}:
            for path in store.document_paths(under=under):
                stored.add(path)
                if path not in seen and not _under_any(path, protected):
                    to_remove.append(path)
    return SyncPlan(to_read, unchanged, sorted(set(to_remove)), stored, to_rename)


def _under_any(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _sync_file(
    store: Store,
    item: Found,
    budget: ChunkBudget,
    report: IngestReport,
    progress: Progress,
    limits: LoadLimits,
) -> None:
    path = str(item.path)
    try:
        source = read_source(item.path)
        state = store.document_state(path)
        if state is not None and state[2] == source.sha256:
            store.touch_document(source)
            report.unchanged += 1
            return
        document = load_document(source, item.kind, limits)
        count = store.replace_document(source, item.kind, iter_chunks(document, budget))
    except LoadError as exc:
        report.skipped.append(Skipped(path, exc.message, failed=True))
        progress.note(f"skipped {path}: {exc.message}")
        return
    report.chunks_added += count
    if state is None:
        report.added += 1
    else:
        report.updated += 1
