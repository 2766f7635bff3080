"""Embedding what a store lacks and keeping its vector index in step, for every verb that writes.

`ingest` and `index` embed new chunks, `compact` and `rm` rebuild or trim the index,
`doctor` embeds damaged vectors again: all through these functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from ragcli.cpu import run_in_background
from ragcli.embedding.base import Embedder, check_vectors
from ragcli.errors import StoreCorruptError
from ragcli.records import Chunk, IndexReport, Manifest, RaySettings
from ragcli.store import Store

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.progress import Progress
    from ragcli.vectors.base import VectorIndex

# Turns batches of chunks into (batch, vectors) pairs, in any order, one batch at a time.
EmbedBatches = Callable[
    [Iterator[list[Chunk]]], Iterator[tuple[list[Chunk], "NDArray[np.float32]"]]
]

# Rebuild the index from stored vectors once this share of its entries are tombstones.
TOMBSTONE_REBUILD_FRACTION = 0.2
# After a write, the keyword index is checked in stores up to this size (about 0.4 s);
# larger ones are left to `rag doctor`.
KEYWORD_CHECK_MAX_CHUNKS = 20_000
# Unembedded chunks are read this many batches at a time and sorted by token length, so a
# batch is padded only to its own longest text, not to the longest of 64 chunks in id order.
# The window bounds memory; a kill loses only the window's batches not yet committed.
EMBED_WINDOW_BATCHES = 8


def index_chunks(
    store: Store,
    manifest: Manifest,
    embedder: Embedder,
    progress: Progress,
    batch_size: int,
    rebuild: bool = False,
    int8: bool = True,
    ray: RaySettings | None = None,
    documents: DocumentEmbedder | None = None,
) -> IndexReport:
    """Embed missing vectors in committed batches, then bring the index up to date.

    With `ray`, the batches are embedded on a Ray runtime; they are formed and committed
    here all the same. `documents` keeps the document embedder between runs (a watch).
    """
    started = time.perf_counter()
    pending = store.count_unembedded()
    embedded = 0
    if pending:
        # Bulk embedding yields the CPU to interactive work (issue 12); set before the
        # embedder's thread pools start, which inherit it.
        run_in_background()
        embedder = (documents or DocumentEmbedder(embedder, int8)).for_documents(store, progress)
        with _embedding(embedder, batch_size, int8, ray, progress) as embed:
            progress.start("Embedding chunks", pending)
            for batch, vectors in embed(embedding_batches(store, embedder, batch_size)):
                check_vectors(embedder, vectors, len(batch))
                store.save_embeddings(batch, vectors)
                embedded += len(batch)
                progress.advance(len(batch))
    indexed, removed, rebuilt = update_index(store, manifest, rebuild, progress.note)
    store.check_keyword_index(KEYWORD_CHECK_MAX_CHUNKS)
    return IndexReport(embedded, indexed, rebuilt, removed, time.perf_counter() - started)


class DocumentEmbedder:
    """A store's embedder, and the copy documents are embedded with, made once and kept.

    A watch indexes many small batches: the int8 ONNX model loads once, not per batch.
    """

    def __init__(self, embedder: Embedder, int8: bool) -> None:
        self.embedder = embedder
        self.int8 = int8
        self._documents: Embedder | None = None

    def for_documents(self, store: Store, progress: Progress) -> Embedder:
        """The embedder for documents: the ONNX copy once there is one, else the store's."""
        if self._documents is not None:
            return self._documents
        chosen = _fast_embedder(store, self.embedder, progress, self.int8)
        if chosen is not self.embedder:
            self._documents = chosen  # no copy yet (a store with no text): try again next time
        return chosen


def embedding_batches(store: Store, embedder: Embedder, batch_size: int) -> Iterator[list[Chunk]]:
    """Yield the chunks that need an embedding in batches of similar token length.

    Each window of EMBED_WINDOW_BATCHES batches (one chunk per distinct text) is sorted by
    length; committing a batch before the next is read is what makes a resumed run pick up
    exactly what is still missing.
    """
    for window in store.iter_unembedded(batch_size * EMBED_WINDOW_BATCHES):
        lengths = embedder.count_tokens([chunk.embed_text for chunk in window])
        order = sorted(range(len(window)), key=lengths.__getitem__)
        for start in range(0, len(order), batch_size):
            yield [window[row] for row in order[start : start + batch_size]]


@contextmanager
def _embedding(
    embedder: Embedder, batch_size: int, int8: bool, ray: RaySettings | None, progress: Progress
) -> Iterator[EmbedBatches]:
    """Embed in this process, or on the Ray runtime `ray` names for as long as it is needed."""
    if ray is None:
        yield lambda batches: (
            (batch, embedder.embed([c.embed_text for c in batch], batch_size)) for batch in batches
        )
        return
    from ragcli.embedding.ray import WorkerEmbedder, ray_runtime
    from ragcli.embedding.server import is_server_spec
    from ragcli.errors import UsageError
    from ragcli.locations import model_cache_dir

    if is_server_spec(embedder.spec):
        raise UsageError("--ray embeds with a local model; this store embeds on a server")

    worker = WorkerEmbedder(
        embedder.spec, str(model_cache_dir()), int8, type(embedder).__name__, threads=1
    )
    with ray_runtime(ray) as runtime:
        where = "a local Ray runtime" if ray.address == "local" else f"Ray at {ray.address}"
        progress.note(f"embedding on {where} with {runtime.workers} workers")
        yield lambda batches: runtime.embed(batches, worker, batch_size)


# Texts the ONNX query model is checked on: a few hundred of the store's own, query-sized.
_CHECK_TEXTS = 300
_CHECK_CHARS = 300


def _fast_embedder(store: Store, embedder: Embedder, progress: Progress, int8: bool) -> Embedder:
    """Export the model once (torch-free queries, int8 documents); pick the document one."""
    from ragcli.embedding.factory import make_document_embedder, prepare_query_embedder
    from ragcli.locations import model_cache_dir

    texts = [text[:_CHECK_CHARS] for text in store.sample_texts(_CHECK_TEXTS)]
    lowest = prepare_query_embedder(embedder, model_cache_dir(), texts)
    if lowest is not None:
        progress.note(
            f"exported the embedder to ONNX for fast queries and int8 ingest "
            f"(checked on {len(texts)} texts; lowest cosine {lowest:.6f})"
        )
    if not int8:
        return embedder
    return make_document_embedder(embedder, model_cache_dir())


def update_index(
    store: Store, manifest: Manifest, rebuild: bool, note: Callable[[str], None] | None = None
) -> tuple[int, int, bool]:
    """Bring the store's vectors in step with its embedded chunks, or rebuild them.

    Returns the live entries, the removed entries dropped and whether they were built anew.

    What the vectors hold is read from the vectors themselves (a vector database: from the
    store's record of them while it is vouched for, see `_held_ids`), so a crash between
    caching vectors and writing them is repaired on the next run instead of duplicating ids.
    An index the manifest does not vouch for (another store's, another state's, damaged, or
    one written before checksums were recorded) is rebuilt from the stored vectors. Removed
    chunks are deleted where the backend can; FAISS keeps them as tombstones, rebuilding
    once they are TOMBSTONE_REBUILD_FRACTION of it.
    """
    try:
        index = store.open_vectors(manifest)
    except StoreCorruptError as exc:
        if note is not None:
            note(f"{exc.message}; rebuilding it from the stored vectors")
        index = None
    try:
        if index is not None and not index.verified:
            rebuild = True  # no record to check it against: trust only what the database holds
        if not rebuild and index is not None:
            updated = _catch_up(store, manifest, index, note)
            if updated is not None:
                return updated
        wanted = store.indexable_ids()
        dropped = 0
        if index is not None:
            dropped = int(np.setdiff1d(_held_ids(store, manifest, index, note)[0], wanted).size)
    finally:
        if index is not None:
            index.close()
    store.distrust_vector_record(manifest)  # a database's vectors are emptied next
    fresh = store.new_vectors(manifest)
    try:
        for ids, vectors in store.iter_embedded_vectors(manifest.dimension, wanted):
            fresh.add(ids, vectors)
        store.save_vectors(manifest, fresh)
        store.record_vector_ids(manifest, wanted)
        return fresh.count(), dropped, True
    finally:
        fresh.close()


def _catch_up(
    store: Store,
    manifest: Manifest,
    index: VectorIndex,
    note: Callable[[str], None] | None = None,
) -> tuple[int, int, bool] | None:
    """Add what the vectors lack, delete what they should not hold; None: rebuild instead."""
    held, recorded = _held_ids(store, manifest, index, note)
    wanted = store.indexable_ids()
    dead = np.setdiff1d(held, wanted)
    if index.keeps_removed and dead.size > TOMBSTONE_REBUILD_FRACTION * len(held):
        return None
    deleting = dead[:0] if index.keeps_removed else dead
    missing = np.setdiff1d(wanted, held)
    if missing.size or deleting.size:
        store.distrust_vector_record(manifest)  # committed before the database changes
        if deleting.size:
            index.remove(deleting)
        for ids, vectors in store.iter_embedded_vectors(manifest.dimension, missing):
            index.add(ids, vectors)
        store.save_vectors(manifest, index)
    if not recorded:
        store.record_vector_ids(manifest, wanted)  # after a listing: what it holds now
    elif missing.size or deleting.size:
        store.record_vector_ids(manifest, missing, deleting)
    tombstones = int(dead.size) if index.keeps_removed else 0
    return index.count() - tombstones, int(deleting.size), False


def _held_ids(
    store: Store,
    manifest: Manifest,
    index: VectorIndex,
    note: Callable[[str], None] | None = None,
) -> tuple[NDArray[np.int64], bool]:
    """Return the ids the vectors hold, and whether they come from the store's record.

    A vector database is listed (slow: every id through the network) only when the record
    is not vouched for (a run was killed while writing to it; a store just upgraded) or its
    count disagrees with the database's (changed behind the store's back): a cheap check.
    FAISS indexes are always asked (their ids are in memory).
    """
    recorded = store.recorded_vector_ids(manifest)
    if recorded is None:
        return index.ids(), False
    count = index.count()
    if count != recorded.size:
        if note is not None:
            note(
                f"the vector store holds {count} vectors, the store's record of it "
                f"{recorded.size}: checking every id"
            )
        return index.ids(), False
    return recorded, True
