"""`rag ingest`: keep the store in step with files and folders, then index.

Sync rules: new files are added; a file whose size or mtime changed is hashed, and only a
changed sha256 gets its chunks replaced; an unchanged file costs one stat. Files that
disappeared from (or are now ignored in) a folder given to ingest are removed. Files that
could not be read this time keep their stored version.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragcli.discovery import DiscoveryOptions, discover
from ragcli.errors import InputNotFoundError, LoadError
from ragcli.indexing import index_chunks
from ragcli.records import Found, IngestReport, IngestResult, Manifest, Skipped, SyncPlan
from ragcli.steps.opening import BuildSettings, open_for_writing
from ragcli.steps.progress import Progress
from ragcli.store import Store, writer_lock
from ragcli.text.chunking import ChunkBudget, iter_chunks
from ragcli.text.loaders import load_document, read_source


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest and how."""

    paths: tuple[Path, ...]
    store_dir: Path
    build: BuildSettings
    defaults: Manifest
    discovery: DiscoveryOptions = field(default_factory=DiscoveryOptions)
    index: bool = True
    batch_size: int = 64
    dry_run: bool = False
    wait: bool = True


def check_paths(paths: Sequence[Path]) -> None:
    """Fail before touching the store if any given path is missing."""
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise InputNotFoundError(f"no such file or directory: {path}")


def ingest(options: IngestOptions, progress: Progress) -> IngestResult:
    """Bring the store in step with the given files and folders; index unless told not to."""
    check_paths(options.paths)
    with writer_lock(options.store_dir, options.wait, progress.note, create=True):
        store, manifest, embedder = open_for_writing(
            options.store_dir, options.build, options.defaults
        )
        with store:
            report = IngestReport()
            found = list(discover(options.paths, options.discovery, report.skipped))
            for skipped in report.skipped:
                if skipped.failed:
                    progress.note(f"skipped {skipped.path}: {skipped.reason}")
            plan = plan_sync(store, found, options.paths, report.skipped)
            if options.dry_run:
                return IngestResult(report, None, plan)
            for old, new in plan.to_rename:
                store.rename_document(old, new)
            report.removed = store.remove_documents(plan.to_remove)
            report.unchanged = plan.unchanged
            budget = ChunkBudget(manifest.chunking, manifest.max_text_tokens, embedder.count_tokens)
            progress.start("Reading files", len(plan.to_read))
            for item in plan.to_read:
                _sync_file(store, item, budget, report, progress)
                progress.advance(1)
            index_report = None
            if options.index:
                index_report = index_chunks(
                    store, manifest, embedder, progress, options.batch_size, int8=options.build.int8
                )
    return IngestResult(report, index_report)


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
    store: Store, item: Found, budget: ChunkBudget, report: IngestReport, progress: Progress
) -> None:
    path = str(item.path)
    try:
        source = read_source(item.path)
        state = store.document_state(path)
        if state is not None and state[2] == source.sha256:
            store.touch_document(source)
            report.unchanged += 1
            return
        document = load_document(source, item.kind)
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
