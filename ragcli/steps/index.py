"""`rag index`: embed every chunk not yet embedded and bring the vector index up to date."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragcli.backends.embedders import Embedder
from ragcli.backends.vectors import FaissHnswIndex
from ragcli.records import IndexReport, Manifest
from ragcli.steps.opening import BuildSettings, open_for_reading
from ragcli.steps.progress import Progress
from ragcli.store import Store


@dataclass(frozen=True)
class IndexOptions:
    """Which store to index and how."""

    store_dir: Path
    build: BuildSettings
    batch_size: int = 64
    rebuild: bool = False


def index(options: IndexOptions, progress: Progress) -> IndexReport:
    """Embed and index whatever the store holds that is not indexed yet."""
    store, manifest, embedder = open_for_reading(options.store_dir, options.build.threads)
    with store:
        return index_chunks(
            store, manifest, embedder, progress, options.batch_size, options.rebuild
        )


def index_chunks(
    store: Store,
    manifest: Manifest,
    embedder: Embedder,
    progress: Progress,
    batch_size: int,
    rebuild: bool = False,
) -> IndexReport:
    """Embed missing vectors in committed batches, then add them to (or rebuild) the index."""
    started = time.perf_counter()
    pending = store.count_unembedded()
    embedded = 0
    if pending:
        progress.start("Embedding chunks", pending)
        for batch in store.iter_unembedded(batch_size):
            vectors = embedder.embed([c.embed_text for c in batch], batch_size)
            store.save_embeddings([c.id for c in batch if c.id is not None], vectors)
            embedded += len(batch)
            progress.advance(len(batch))
    indexed, rebuilt = _update_index(store, manifest, rebuild)
    return IndexReport(embedded, indexed, rebuilt, time.perf_counter() - started)


def _update_index(store: Store, manifest: Manifest, rebuild: bool) -> tuple[int, bool]:
    """Add the vectors the index lacks; rebuild from stored vectors if it holds stale ids.

    What the index holds is read from the index itself, so a crash between saving vectors
    and writing the index is repaired on the next run instead of duplicating ids.
    """
    index = None if rebuild else store.read_index(manifest.hnsw)
    live = store.embedded_ids()
    if index is not None:
        held = index.ids()
        if np.setdiff1d(held, live).size == 0 and index.dimension == manifest.dimension:
            missing = np.setdiff1d(live, held)
            if missing.size == 0:
                return len(index), False
            ids, vectors = store.embedded_vectors(manifest.dimension, exclude=held.tolist())
            index.add(ids, vectors)
            store.write_index(index)
            return len(index), False
    ids, vectors = store.embedded_vectors(manifest.dimension)
    index = FaissHnswIndex.create(manifest.dimension, manifest.hnsw)
    index.add(ids, vectors)
    store.write_index(index)
    return len(index), True
