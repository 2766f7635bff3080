"""`rag ingest`: keep the store in step with files and folders, then index (rules in syncing.py).

With --watch, the folders are followed after that first sync (rules in watching.py).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.build import BuildSettings, require_engines, settle_build
from ragcli.discovery import DiscoveryOptions
from ragcli.errors import ConfigMismatchError, InputNotFoundError
from ragcli.indexing import DocumentEmbedder, index_chunks
from ragcli.progress import Progress
from ragcli.records import (
    FileChange,
    IndexReport,
    IngestResult,
    Manifest,
    WatchEvent,
    WatchStarted,
    WatchStopped,
)
from ragcli.store import Store
from ragcli.syncing import check_paths, sync_changes, sync_documents
from ragcli.text.loaders import LoadLimits
from ragcli.watching import FolderPins, WatchScope, open_when_free

if TYPE_CHECKING:
    from ragcli.folder_watcher import FolderWatcher

# How long a watch waits for changes before looking whether its folders are still there.
IDLE_CHECK_S = 1.0


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest and how."""

    paths: tuple[Path, ...]
    store_dir: Path
    build: BuildSettings
    discovery: DiscoveryOptions
    index: bool
    batch_size: int
    dry_run: bool
    wait: bool
    # How files are read (OCR included): options.load_limits fills it from the settings.
    load: LoadLimits


def ingest(options: IngestOptions, progress: Progress) -> IngestResult:
    """Bring the store in step with the given files and folders; index unless told not to."""
    check_paths(options.paths)
    require_engines(options.build)
    with Store.open(
        options.store_dir,
        create=True,
        write=True,
        wait=options.wait,
        on_wait=progress.note,
        vectors_token=options.build.vectors_token,
    ) as store:
        manifest, embedder = settle_build(store, options.build)
        documents = DocumentEmbedder(embedder, int8=options.build.int8)
        return _sync_all(store, manifest, documents, options, progress)


def watch(options: IngestOptions, progress: Progress) -> Generator[WatchEvent, None, None]:
    """Ingest folders, then sync each change to them as it happens, until interrupted.

    Models load once; the writer lock is held only while a change is written. Ctrl-C (or
    SIGTERM, which the CLI raises as KeyboardInterrupt) stops it: an open transaction
    rolls back, what was committed stays, and the last event says which happened.
    """
    from ragcli.folder_watcher import require_watcher, watching

    check_paths(options.paths)
    scope = WatchScope.of(options.paths, options.store_dir)
    scope.check_store()
    require_watcher()
    require_engines(options.build)
    folders = [str(folder.given) for folder in scope.folders]
    follower = _Follower(options, scope, progress)
    try:
        with (
            FolderPins(scope) as pins,
            watching([folder.real for folder in scope.folders], scope.wanted) as watcher,
        ):
            yield WatchStarted(result=follower.start(), folders=folders)
            while True:
                changed = _changes(watcher, pins)
                if changed:
                    yield from follower.sync(changed)
    except KeyboardInterrupt:
        yield WatchStopped(folders=folders, interrupted_write=follower.writing)


def _changes(watcher: FolderWatcher, pins: FolderPins) -> set[str]:
    """The next changed paths, once the folders are known to be the ones watched.

    Checked after the events and before any sync: a folder deleted (and perhaps made
    again) ends the watch before the deletions of its files could remove documents.
    """
    try:
        changed = watcher.changes(IDLE_CHECK_S)
    except InputNotFoundError:
        pins.check()  # a watch that failed because its folder went says that instead
        raise
    pins.check()
    return changed


class _Follower:
    """A watch's store writes: the first sync, then one batch of changed paths at a time."""

    def __init__(self, options: IngestOptions, scope: WatchScope, progress: Progress) -> None:
        self.options = options
        self.scope = scope
        self.progress = progress
        self.writing = False
        self.manifest: Manifest | None = None
        self.documents: DocumentEmbedder | None = None

    def start(self) -> IngestResult:
        """Sync the folders whole, and make the embedder every later batch uses."""
        options, note = self.options, self.progress.note
        with Store.open(
            options.store_dir,
            create=True,
            write=True,
            wait=options.wait,
            on_wait=note,
            vectors_token=options.build.vectors_token,
        ) as store:
            self.writing = True
            self.manifest, embedder = settle_build(store, options.build)
            self.documents = DocumentEmbedder(embedder, int8=options.build.int8)
            result = _sync_all(store, self.manifest, self.documents, options, self.progress)
        self.writing = False
        return result

    def sync(self, changed: set[str]) -> list[FileChange]:
        """Sync the changed paths in one hold of the writer lock; return what changed."""
        assert self.manifest is not None and self.documents is not None
        targets = self.scope.changed(changed)
        if not targets:
            return []
        changes: list[FileChange] = []
        options = self.options
        with open_when_free(
            options.store_dir, self.progress.note, options.build.vectors_token
        ) as store:
            self.writing = True
            if store.manifest != self.manifest:
                raise ConfigMismatchError(
                    f"store {store.root} was rebuilt while it was watched",
                    "run rag ingest --watch again",
                )
            for folder, paths in targets.items():
                changes += sync_changes(
                    store,
                    self.manifest,
                    self.documents.embedder,
                    folder.given,
                    paths,
                    self.options.discovery,
                    self.options.load,
                )
            if self.options.index and any(c.action != "skipped" for c in changes):
                _index(store, self.manifest, self.documents, self.options, self.progress)
        self.writing = False
        return changes


def _sync_all(
    store: Store,
    manifest: Manifest,
    documents: DocumentEmbedder,
    options: IngestOptions,
    progress: Progress,
) -> IngestResult:
    """Sync every path given; index unless told not to (or only planning)."""
    report, plan = sync_documents(
        store,
        manifest,
        documents.embedder,
        options.paths,
        options.discovery,
        progress,
        options.dry_run,
        limits=options.load,
    )
    if options.dry_run:
        return IngestResult(report, None, plan)
    index_report = _index(store, manifest, documents, options, progress) if options.index else None
    return IngestResult(report, index_report)


def _index(
    store: Store,
    manifest: Manifest,
    documents: DocumentEmbedder,
    options: IngestOptions,
    progress: Progress,
) -> IndexReport:
    return index_chunks(
        store,
        manifest,
        documents.embedder,
        progress,
        options.batch_size,
        int8=options.build.int8,
        ray=options.build.ray,
        documents=documents,
    )
