"""The store directory: SQLite rows (documents, chunks, embeddings, manifest) and the index.

This package is the only code that reads or writes a store. Layout of a store directory:

    store.sqlite3   documents, chunks, their FTS5 keyword index, the embedding cache and the
                    manifest (schema in layout.py)
    index.faiss     the vector index, always replaced whole by an atomic rename
    lock            held (flock) by the one process allowed to write at a time

Chunks removed since the index was built stay in the index as tombstones: they are the
index ids that are no longer indexable ids, derived on demand, so no crash can leave a
stale list of them behind. Each distinct text is indexed once, under its lowest chunk id.

Modules: layout (names, schema), lock, database (open, upgrade, transactions, manifest),
documents, embeddings, index_file, integrity (rag doctor), faults (errors of the files)
and salvage (doctor's copy of a damaged database). Store joins the row and file parts.
"""

from __future__ import annotations

import numpy as np

from ragcli.errors import IndexMismatchError
from ragcli.files import atomic_write_bytes
from ragcli.records import StoreStatus
from ragcli.store.database import shm_in_use
from ragcli.store.documents import DocumentRows, text_key
from ragcli.store.embeddings import EmbeddingRows
from ragcli.store.index_file import IndexFile, IndexRecord
from ragcli.store.integrity import Integrity
from ragcli.store.layout import DATABASE_NAME, INDEX_NAME, LOCK_NAME
from ragcli.store.lock import writer_lock
from ragcli.store.migrations import FORMAT_VERSION

__all__ = [
    "DATABASE_NAME",
    "FORMAT_VERSION",
    "INDEX_NAME",
    "LOCK_NAME",
    "IndexRecord",
    "Store",
    "atomic_write_bytes",
    "shm_in_use",
    "text_key",
    "writer_lock",
]


class Store(DocumentRows, EmbeddingRows, IndexFile, Integrity):
    """An open store directory."""

    def status(self) -> StoreStatus:
        """Count what the store holds."""
        documents, chunks, embedded = self._query(
            "SELECT (SELECT COUNT(*) FROM documents), COUNT(c.id), COUNT(e.text_sha256) "
            "FROM chunks c LEFT JOIN embeddings e ON e.text_sha256 = c.text_sha256"
        )[0]
        manifest = self.manifest
        index_bytes = self.index_path.stat().st_size if self.index_path.is_file() else 0
        indexed = tombstones = 0
        problem = None
        if manifest is not None and index_bytes:
            try:
                index = self.read_index(manifest.hnsw)
            except IndexMismatchError as exc:  # status reports it; search refuses it
                index, problem = None, str(exc)
            if index is not None:
                # Entries of chunks removed since the index was built count as tombstones.
                tombstones = int(np.setdiff1d(index.ids(), self.indexable_ids()).size)
                indexed = index.describe().count - tombstones
        return StoreStatus(
            str(self.root),
            documents,
            chunks,
            embedded,
            indexed,
            tombstones,
            index_bytes,
            manifest,
            problem,
        )
