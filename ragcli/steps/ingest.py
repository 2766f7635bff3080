"""`rag ingest`: keep the store in step with files and folders, then index (rules in syncing.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragcli.build import BuildSettings, require_engines, settle_build
from ragcli.discovery import DiscoveryOptions
from ragcli.indexing import index_chunks
from ragcli.progress import Progress
from ragcli.records import IngestResult
from ragcli.store import Store
from ragcli.syncing import check_paths, sync_documents
from ragcli.text.loaders import LoadLimits


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
    # How files are read (OCR included); the command fills it from the settings.
    load: LoadLimits = LoadLimits()


def ingest(options: IngestOptions, progress: Progress) -> IngestResult:
    """Bring the store in step with the given files and folders; index unless told not to."""
    check_paths(options.paths)
    require_engines(options.build)
    with Store.open(
        options.store_dir, create=True, write=True, wait=options.wait, on_wait=progress.note
    ) as store:
        manifest, embedder = settle_build(store, options.build)
        report, plan = sync_documents(
            store,
            manifest,
            embedder,
            options.paths,
            options.discovery,
            progress,
            options.dry_run,
            limits=options.load,
        )
        if options.dry_run:
            return IngestResult(report, None, plan)
        index_report = None
        if options.index:
            index_report = index_chunks(
                store,
                manifest,
                embedder,
                progress,
                options.batch_size,
                int8=options.build.int8,
                ray=options.build.ray,
            )
    return IngestResult(report, index_report)
