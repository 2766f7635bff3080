"""`rag index` and `rag compact`: embed what is missing, keep the vector index in step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ragcli.build import BuildSettings, built_with, require_engines
from ragcli.errors import EmptyStoreError
from ragcli.indexing import index_chunks, update_index
from ragcli.progress import Progress
from ragcli.records import IndexReport
from ragcli.store import Store


@dataclass(frozen=True)
class IndexOptions:
    """Which store to index and how."""

    store_dir: Path
    build: BuildSettings
    batch_size: int
    rebuild: bool
    wait: bool


def index(options: IndexOptions, progress: Progress) -> IndexReport:
    """Embed and index whatever the store holds that is not indexed yet."""
    require_engines(options.build)
    with Store.open(
        options.store_dir,
        write=True,
        wait=options.wait,
        on_wait=progress.note,
        vectors_token=options.build.vectors_token,
    ) as store:
        manifest, embedder = built_with(store, options.build.threads, options.build.embed_server)
        return index_chunks(
            store,
            manifest,
            embedder,
            progress,
            options.batch_size,
            options.rebuild,
            options.build.int8,
            options.build.ray,
        )


def compact(options: IndexOptions, progress: Progress) -> IndexReport:
    """Drop unused cached vectors and rebuild the index without tombstones."""
    with Store.open(
        options.store_dir,
        write=True,
        wait=options.wait,
        on_wait=progress.note,
        vectors_token=options.build.vectors_token,
    ) as store:
        manifest = store.manifest
        if manifest is None:
            raise EmptyStoreError.at(store.root)
        started = time.perf_counter()
        store.prune_embeddings()
        indexed, removed, _ = update_index(store, manifest, rebuild=True, note=progress.note)
        return IndexReport(0, indexed, True, removed, time.perf_counter() - started)
