"""`rag ingest`: keep the store in step with files and folders, then index (rules in syncing.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ragcli.discovery import DiscoveryOptions
from ragcli.indexing import index_chunks
from ragcli.records import IngestResult, Manifest
from ragcli.steps.opening import BuildSettings, open_for_writing
from ragcli.steps.progress import Progress
from ragcli.store import writer_lock
from ragcli.syncing import check_paths, sync_documents


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


def ingest(options: IngestOptions, progress: Progress) -> IngestResult:
    """Bring the store in step with the given files and folders; index unless told not to."""
    check_paths(options.paths)
    with writer_lock(options.store_dir, options.wait, progress.note, create=True):
        store, manifest, embedder = open_for_writing(
            options.store_dir, options.build, options.defaults
        )
        with store:
            report, plan = sync_documents(
                store,
                manifest,
                embedder,
                options.paths,
                options.discovery,
                progress,
                options.dry_run,
            )
            if options.dry_run:
                return IngestResult(report, None, plan)
            index_report = None
            if options.index:
                index_report = index_chunks(
                    store, manifest, embedder, progress, options.batch_size, int8=options.build.int8
                )
    return IngestResult(report, index_report)
