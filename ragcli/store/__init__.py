"""The store directory: SQLite rows (documents, chunks, embeddings, manifest) and the index.

This package is the only code that reads or writes a store. Layout of a store directory:

    store.sqlite3   documents, chunks, their FTS5 keyword index, the embedding cache and the
                    manifest (schema in migrations.py)
    index.faiss     the vector index, always replaced whole by an atomic rename
    lock            held (flock) by the one process allowed to write at a time

Readers open the database read-only; only a writer (holding the lock) or `rag doctor` can
write it. Every file above is opened only if it is a regular file.

Chunks removed since the index was built stay in the index as tombstones: they are the
index ids that are no longer indexable ids, derived on demand, so no crash can leave a
stale list of them behind. Each distinct text is indexed once, under its lowest chunk id.

Modules: layout (file names), migrations (schema and its upgrade steps), lock (the
single-writer lock), connection (read-only or writable SQLite connections, and the checks
of the files before), database (open, the lock of a writer, transactions, manifest),
documents, embeddings, index_file (the vector index file and its records), vectors
(the store's vectors wherever they live, and its record of a vector database's ids), status
(rag status), integrity (rag doctor), faults (errors of the files), salvage (doctor's
copy of a damaged database) and manifest_repair (doctor's rebuild of a damaged manifest).
Store joins the row and file parts.
"""

from __future__ import annotations

from ragcli.files import atomic_write_bytes
from ragcli.store.connection import shm_in_use
from ragcli.store.documents import DocumentRows, text_key
from ragcli.store.index_file import IndexRecord
from ragcli.store.integrity import Integrity
from ragcli.store.layout import DATABASE_NAME, INDEX_NAME, LOCK_NAME
from ragcli.store.lock import writer_lock
from ragcli.store.migrations import FORMAT_VERSION
from ragcli.store.status import StatusReport

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


class Store(DocumentRows, StatusReport, Integrity):
    """An open store directory."""
