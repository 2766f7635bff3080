"""`rag index` and `rag compact`: embed what is missing, keep the vector index in step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ragcli.indexing import index_chunks, update_index
from ragcli.records import IndexReport
from ragcli.steps.opening import BuildSettings, open_for_reading
from ragcli.steps.progress import Progress
from ragcli.store import writer_lock


@dataclass(frozen=True)
class IndexOptions:
    """Which store to index and how."""

    store_dir: Path
    build: BuildSettings
    batch_size: int = 64
    rebuild: bool = False
    wait: bool = True


def index(options: IndexOptions, progress: Progress) -> IndexReport:
    """Embed and index whatever the store holds that is not indexed yet."""
    with writer_lock(options.store_dir, options.wait, progress.note):
        store, manifest, embedder = open_for_reading(options.store_dir, options.build.threads)
        with store:
            return index_chunks(
                store,
                manifest,
                embedder,
                progress,
                options.batch_size,
                options.rebuild,
                options.build.int8,
            )


def compact(options: IndexOptions, progress: Progress) -> IndexReport:
    """Drop unused cached vectors and rebuild the index without tombstones."""
    with writer_lock(options.store_dir, options.wait, progress.note):
        store, manifest, _ = open_for_reading(options.store_dir, options.build.threads)
        with store:
            started = time.perf_counter()
            store.prune_embeddings()
            indexed, removed, _ = update_index(store, manifest, rebuild=True, note=progress.note)
            return IndexReport(0, indexed, True, removed, time.perf_counter() - started)
