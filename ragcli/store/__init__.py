"""The store directory: SQLite rows (documents, chunks, embeddings, manifest) and the index.

This is the only module that reads or writes a store. Layout of a store directory:

    store.sqlite3   documents, chunks, their FTS5 keyword index, the embedding cache and the
                    manifest (schema below)
    index.faiss     the vector index, always replaced whole by an atomic rename
    lock            held (flock) by the one process allowed to write at a time

Chunks removed since the index was built stay in the index as tombstones: they are the
index ids that are no longer indexable ids, derived on demand, so no crash can leave a
stale list of them behind. Each distinct text is indexed once, under its lowest chunk id.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ragcli.errors import (
    IndexMismatchError,
    StoreCorruptError,
    StoreLockedError,
    StoreNotFoundError,
    WalDeletedError,
)
from ragcli.files import atomic_write_bytes
from ragcli.records import (
    Chunk,
    ChunkingSettings,
    HnswSettings,
    Manifest,
    SourceFile,
    StoredDocument,
    StoreStatus,
)
from ragcli.store.faults import DOCTOR_HINT, file_error, raise_database_error

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.backends.vectors import FaissHnswIndex

FORMAT_VERSION = 3
# Older layouts this module upgrades in place (in one transaction) when it opens them.
_UPGRADABLE_VERSIONS = (2,)
DATABASE_NAME = "store.sqlite3"
INDEX_NAME = "index.faiss"
LOCK_NAME = "lock"
_INSERT_BATCH = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    ingested_at REAL NOT NULL
);
-- AUTOINCREMENT: a chunk id is never reused, so an id in the index always means one text.
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading TEXT NOT NULL,
    page INTEGER,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    text_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS chunks_by_text ON chunks(text_sha256);
-- The embedding cache: one vector per distinct embedded text (heading path + chunk text),
-- whatever file it came from; a store has one embedder, recorded in the manifest.
CREATE TABLE IF NOT EXISTS embeddings (
    text_sha256 TEXT PRIMARY KEY,
    vector BLOB NOT NULL
) WITHOUT ROWID;
""" + """
-- Keyword search (BM25) over the same chunks: an external-content FTS5 table that triggers
-- keep in step with every insert and delete, cascades from documents included.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    heading, text, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, heading, text)
    VALUES ('delete', old.id, old.heading, old.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_update AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, heading, text)
    VALUES ('delete', old.id, old.heading, old.text);
    INSERT INTO chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
"""

_CHUNK_COLUMNS = (
    "c.id, c.text, d.path, c.page, c.start_line, c.end_line, c.start_char, c.end_char, c.heading"
)
_UNEMBEDDED = "NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.text_sha256 = c.text_sha256)"


@contextlib.contextmanager
def writer_lock(
    root: Path, wait: bool, on_wait: Callable[[str], None], create: bool = False
) -> Iterator[None]:
    """Hold a store's single-writer lock; wait for it (saying so) or fail at once."""
    if not root.is_dir():
        if not create:
            raise StoreNotFoundError(
                f"no store at {root}", "run `rag ingest PATH` first or pass --store DIR"
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise file_error(exc, root) from exc
    try:
        handle = open(root / LOCK_NAME, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise file_error(exc, root / LOCK_NAME) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise StoreLockedError(
                    f"store {root} is being written by another rag process",
                    "try again when it finishes, or drop --no-wait to wait for it",
                ) from None
            on_wait(f"waiting for another rag process to finish writing {root}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def text_key(chunk: Chunk) -> str:
    """The embedding-cache key of a chunk: sha256 of exactly what the embedder reads."""
    return hashlib.sha256(chunk.embed_text.encode("utf-8")).hexdigest()


class Store:
    """An open store directory."""

    def __init__(self, root: Path, connection: sqlite3.Connection) -> None:
        self.root = root
        self._db = connection
        # (device, inode) of the write-ahead log this connection writes, once it has written;
        # False where SQLite could not use a log (a file system without shared memory).
        self._wal_identity: tuple[int, int] | None | bool = None

    @classmethod
    def open(cls, root: Path, create: bool = False) -> Store:
        """Open the store at root; create it when asked, else fail if it is missing."""
        database = root / DATABASE_NAME
        existed = database.is_file()
        if existed and _wal_deleted_under_a_reader(database):
            # Opening would start a new log beside the one the other process still holds.
            raise WalDeletedError(
                f"the write-ahead log {database}-wal was deleted while another process has "
                "the store open: commits now could be lost",
                "stop every rag process using the store, then run `rag doctor`")
        if not existed:
            if not create:
                raise StoreNotFoundError(
                    f"no store at {root}", "run `rag ingest PATH` first or pass --store DIR"
                )
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise file_error(exc, root) from exc
        try:
            # A writer holds its transaction briefly; readers and a second writer wait.
            connection = sqlite3.connect(database, isolation_level=None, timeout=60)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            if not (existed and _on_read_only_media(database)):
                raise_database_error(exc, database, "open")
            # WAL needs a writable -shm beside the file; on read-only media nothing can
            # change the store, so it is read as immutable (writes fail with exit 10).
            connection = sqlite3.connect(f"{database.resolve().as_uri()}?immutable=1",
                                         uri=True, isolation_level=None)
        store = cls(root, connection)
        try:
            if existed and store._has_schema():
                store._check_version()  # before the schema script touches an older layout
                store._upgrade()
            elif (root / INDEX_NAME).exists():
                # An index is written only after the schema: the database lost its content.
                raise StoreCorruptError(
                    f"store database {database} is empty (truncated?) beside its index",
                    DOCTOR_HINT)
            elif not create:
                # A file left by a first run killed before its schema was committed.
                raise StoreNotFoundError(
                    f"no store at {root}", "run `rag ingest PATH` first or pass --store DIR"
                )
            if create:
                store._create_schema()
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- manifest ---------------------------------------------------------------------

    @property
    def database_path(self) -> Path:
        """The SQLite file."""
        return self.root / DATABASE_NAME

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise_database_error(exc, self.database_path, "read")

    def _manifest_values(self) -> dict[str, Any]:
        rows = self._query("SELECT key, value FROM manifest")
        return {key: json.loads(value) for key, value in rows}

    def _has_schema(self) -> bool:
        rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'manifest'")
        return bool(rows)

    def _create_schema(self, then: str = "") -> None:
        """Create missing tables (then run `then`) in one transaction: never half a schema."""
        try:
            self._db.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\n{then}\nCOMMIT;")
        except sqlite3.Error as exc:
            self._rollback()
            raise_database_error(exc, self.database_path, "open")

    def _check_version(self) -> None:
        version = self._manifest_values().get("format_version")
        if version is not None and version not in (FORMAT_VERSION, *_UPGRADABLE_VERSIONS):
            raise StoreCorruptError(
                f"store {self.root} has format version {version}; this ragcli reads "
                f"version {FORMAT_VERSION}",
                "ingest again into a new --store",
            )

    def _upgrade(self) -> None:
        """Bring a format-2 store to format 3: add and fill the keyword index."""
        if self._manifest_values().get("format_version") not in _UPGRADABLE_VERSIONS:
            return
        # Idempotent: if another process upgraded meanwhile, this rebuilds the same index.
        self._create_schema(
            "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');\n"
            f"UPDATE manifest SET value = '{FORMAT_VERSION}' WHERE key = 'format_version';"
        )

    @property
    def manifest(self) -> Manifest | None:
        """How the store was built, or None for a store that has never been written."""
        values = self._manifest_values()
        if "embedder" not in values:
            return None
        try:
            return Manifest(
                format_version=int(values["format_version"]),
                embedder=str(values["embedder"]),
                dimension=int(values["dimension"]),
                max_text_tokens=int(values["max_text_tokens"]),
                normalized=bool(values["normalized"]),
                chunking=ChunkingSettings(**values["chunking"]),
                hnsw=HnswSettings(**values["hnsw"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreCorruptError(f"store {self.root} has an unreadable manifest") from exc

    def write_manifest(self, manifest: Manifest) -> None:
        """Record how the store is built."""
        self._set_manifest(asdict(manifest))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Commit on success; roll back on any exception, KeyboardInterrupt included.

        SQLite's own failures (a full disk, a read-only file, a damaged page) leave as the
        errors `faults.database_error` names, with their exit codes.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise_database_error(exc, self.database_path, "write")
        try:
            yield
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise_database_error(exc, self.database_path, "write")
        except BaseException:
            self._rollback()
            raise
        self._check_wal()

    def _check_wal(self) -> None:
        """Fail if the write-ahead log just committed to is no longer the one at its path.

        A log deleted or replaced under an open store takes the commits in it along: SQLite
        reports success, and the rows are gone once the last connection closes.
        """
        if self._wal_identity is False:
            return
        wal = self.root / f"{DATABASE_NAME}-wal"
        try:
            stat = wal.stat()
            identity: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            identity = None
        if self._wal_identity is None:
            if str(self._query("PRAGMA journal_mode")[0][0]).lower() != "wal":
                self._wal_identity = False
                return
            self._wal_identity = identity
        if identity is None or identity != self._wal_identity:
            raise StoreCorruptError(
                f"the write-ahead log {wal} was deleted or replaced while this command wrote "
                "the store: what it wrote may be lost",
                "stop every rag process using the store, run `rag doctor`, then run the "
                "command again")

    def _rollback(self) -> None:
        """Roll back whatever is open; a rollback that fails too leaves the first error."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    # -- documents and chunks -----------------------------------------------------------

    def document_state(self, path: str) -> tuple[int, float, str] | None:
        """Return (size, mtime, sha256) of a stored document, or None."""
        rows = self._query(
            "SELECT size, mtime, sha256 FROM documents WHERE path = ?", (_stored_path(path),)
        )
        return (int(rows[0][0]), float(rows[0][1]), str(rows[0][2])) if rows else None

    def touch_document(self, source: SourceFile) -> None:
        """Record a new size/mtime for a document whose content did not change."""
        with self._transaction():
            self._db.execute(
                "UPDATE documents SET size = ?, mtime = ? WHERE path = ?",
                (source.size, source.mtime, _stored_path(source.path)),
            )

    def rename_document(self, old: str, new: str) -> None:
        """Store a document under a new path (its chunks and vectors kept), if none is there."""
        with self._transaction():
            self._db.execute(
                "UPDATE OR IGNORE documents SET path = ? WHERE path = ?",
                (_stored_path(new), _stored_path(old)),
            )

    def replace_document(self, source: SourceFile, kind: str, chunks: Iterable[Chunk]) -> int:
        """Store a document and its chunks in one transaction, replacing any older version.

        Chunks are drawn from the iterable while the transaction is open, so a file that
        fails half-way (LoadError) leaves the older version untouched.
        """
        count = 0
        path = _stored_path(source.path)
        with self._transaction():
            self._db.execute("DELETE FROM documents WHERE path = ?", (path,))
            cursor = self._db.execute(
                "INSERT INTO documents(path, kind, size, mtime, sha256, ingested_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (path, kind, source.size, source.mtime, source.sha256, time.time()),
            )
            document_id = cursor.lastrowid
            batch: list[tuple[object, ...]] = []
            for chunk in chunks:
                batch.append((document_id, count, chunk.text, chunk.heading, chunk.page,
                              chunk.start_line, chunk.end_line, chunk.start_char,
                              chunk.end_char, text_key(chunk)))
                count += 1
                if len(batch) >= _INSERT_BATCH:
                    self._insert_chunks(batch)
                    batch = []
            self._insert_chunks(batch)
        return count

    def _insert_chunks(self, rows: list[tuple[object, ...]]) -> None:
        self._db.executemany(
            "INSERT INTO chunks(document_id, ordinal, text, heading, page, start_line, "
            "end_line, start_char, end_char, text_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def remove_documents(self, paths: Sequence[str]) -> int:
        """Remove documents and their chunks; return how many documents went."""
        with self._transaction():
            removed = 0
            for path in paths:
                cursor = self._db.execute(
                    "DELETE FROM documents WHERE path = ?", (_stored_path(path),)
                )
                removed += cursor.rowcount
        return removed

    def document_paths(self, under: str | None = None) -> list[str]:
        """Return stored document paths, all or those below a directory."""
        if under is None:
            rows = self._query("SELECT path FROM documents")
        else:
            # substr() counts characters in a TEXT path and bytes in a BLOB one.
            prefix = under.rstrip(os.sep) + os.sep
            raw = os.fsencode(prefix)
            rows = self._query(
                "SELECT path FROM documents WHERE substr(path, 1, ?) = ? "
                "OR (typeof(path) = 'blob' AND substr(path, 1, ?) = ?)",
                (len(prefix), _stored_path(prefix), len(raw), raw),
            )
        return sorted((_path_of(row[0]) for row in rows), key=os.fsencode)

    def documents(self) -> list[StoredDocument]:
        """Return every stored document with its chunk count."""
        rows = self._query(
            "SELECT d.path, d.kind, d.size, d.sha256, d.ingested_at, COUNT(c.id) "
            "FROM documents d LEFT JOIN chunks c ON c.document_id = d.id "
            "GROUP BY d.id"
        )
        documents = [StoredDocument(_path_of(p), str(k), int(s), str(h), float(t), int(n))
                     for p, k, s, h, t, n in rows]
        return sorted(documents, key=lambda document: os.fsencode(document.path))

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, Chunk]:
        """Return the stored chunks with the given ids (ids no longer stored are left out)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE c.id IN ({marks})",
            list(ids),
        )
        return {row[0]: _chunk_from_row(row) for row in rows}

    def keyword_search(
        self, match: str, k: int, heading_weight: float = 1.0
    ) -> list[tuple[int, float]]:
        """Return up to k (chunk id, BM25 score) pairs for an FTS5 MATCH expression, best first.

        Scores are SQLite's bm25() negated, so higher is better.
        """
        if not match or k <= 0:
            return []
        rows = self._query(
            "SELECT rowid, -bm25(chunks_fts, ?, 1.0) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, ?, 1.0) LIMIT ?",
            (heading_weight, match, heading_weight, k),
        )
        return [(int(chunk_id), float(score)) for chunk_id, score in rows]

    def chunk_vectors(
        self, ids: Sequence[int], dimension: int
    ) -> list[tuple[int, NDArray[np.float32]]]:
        """Return (chunk id, cached vector) for those of the given chunks that are embedded."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._query(
            "SELECT c.id, e.vector FROM chunks c JOIN embeddings e "
            f"ON e.text_sha256 = c.text_sha256 WHERE c.id IN ({marks})",
            list(ids),
        )
        for chunk_id, blob in rows:
            _check_vector(self.root, chunk_id, blob, dimension)
        return [(int(chunk_id), np.frombuffer(blob, dtype="<f4", count=dimension)
                 .astype(np.float32)) for chunk_id, blob in rows]

    def sample_texts(self, count: int) -> list[str]:
        """Return up to count chunk texts, spread over the store (every n-th chunk)."""
        total = int(self._query("SELECT COUNT(*) FROM chunks")[0][0])
        step = max(1, total // max(1, count))
        rows = self._query("SELECT text FROM chunks WHERE id % ? = 0 LIMIT ?", (step, count))
        if len(rows) < min(count, total):  # ids are not dense after removals
            rows = self._query("SELECT text FROM chunks ORDER BY id LIMIT ?", (count,))
        return [str(row[0]) for row in rows]

    def chunk_ids(self) -> NDArray[np.int64]:
        """Return the id of every live chunk."""
        return np.asarray([r[0] for r in self._query("SELECT id FROM chunks")], dtype=np.int64)

    # -- embeddings -------------------------------------------------------------------------

    def count_unembedded(self) -> int:
        """Return how many distinct chunk texts still need an embedding."""
        rows = self._query(
            f"SELECT COUNT(DISTINCT c.text_sha256) FROM chunks c WHERE {_UNEMBEDDED}"
        )
        return int(rows[0][0])

    def iter_unembedded(self, batch_size: int) -> Iterator[list[Chunk]]:
        """Yield batches of chunks whose text has no cached embedding, one per distinct text."""
        last_id = 0
        while True:
            rows = self._query(
                f"SELECT {_CHUNK_COLUMNS}, c.text_sha256 FROM chunks c "
                f"JOIN documents d ON d.id = c.document_id "
                f"WHERE c.id > ? AND {_UNEMBEDDED} ORDER BY c.id LIMIT ?",
                (last_id, batch_size),
            )
            if not rows:
                return
            distinct = {row[-1]: _chunk_from_row(row[:-1]) for row in rows}
            yield list(distinct.values())
            last_id = rows[-1][0]

    def save_embeddings(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        """Cache one embedding per chunk text, in one transaction."""
        blobs = np.ascontiguousarray(vectors, dtype="<f4")
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO embeddings(text_sha256, vector) VALUES (?, ?)",
                [(text_key(chunk), blobs[row].tobytes()) for row, chunk in enumerate(chunks)],
            )

    def embedded_ids(self) -> NDArray[np.int64]:
        """Return the ids of every live chunk whose text has an embedding."""
        rows = self._query(
            "SELECT c.id FROM chunks c JOIN embeddings e ON e.text_sha256 = c.text_sha256"
        )
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def indexable_ids(self) -> NDArray[np.int64]:
        """Return the chunk ids the index should hold: the lowest live id of each embedded text.

        Identical texts (boilerplate, copies) are indexed once: many identical vectors trap
        HNSW's greedy search in a cluster of zero-distance neighbours, and duplicates would
        only crowd the top k.
        """
        rows = self._query(
            "SELECT MIN(c.id) FROM chunks c JOIN embeddings e ON e.text_sha256 = c.text_sha256 "
            "GROUP BY c.text_sha256"
        )
        return np.asarray(sorted(r[0] for r in rows), dtype=np.int64)

    def iter_embedded_vectors(
        self, dimension: int, only: NDArray[np.int64] | None = None, batch_size: int = 50_000
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        """Yield (ids, vectors) batches of embedded live chunks (all, or those in `only`).

        Batches keep a rebuild from holding every vector twice (rows and matrix) at once.
        """
        wanted = None if only is None else set(only.tolist())
        ids: list[int] = []
        blobs: list[bytes] = []
        try:
            rows = self._db.execute(
                "SELECT c.id, e.vector FROM chunks c JOIN embeddings e "
                "ON e.text_sha256 = c.text_sha256 ORDER BY c.id"
            )
            for chunk_id, blob in rows:
                if wanted is None or chunk_id in wanted:
                    _check_vector(self.root, chunk_id, blob, dimension)
                    ids.append(chunk_id)
                    blobs.append(blob)
                if len(ids) >= batch_size:
                    yield _as_matrix(self.root, ids, blobs, dimension)
                    ids, blobs = [], []
        except sqlite3.Error as exc:
            raise_database_error(exc, self.database_path)
        if ids:
            yield _as_matrix(self.root, ids, blobs, dimension)

    def embedded_vectors(
        self, dimension: int, only: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Return ids and cached vectors of embedded live chunks (all, or those in `only`)."""
        batches = list(self.iter_embedded_vectors(dimension, only))
        if not batches:
            return np.zeros(0, dtype=np.int64), np.zeros((0, dimension), dtype=np.float32)
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    def prune_embeddings(self) -> int:
        """Drop cached embeddings no live chunk uses; return how many went."""
        with self._transaction():
            return self._db.execute(
                "DELETE FROM embeddings WHERE text_sha256 NOT IN "
                "(SELECT text_sha256 FROM chunks)"
            ).rowcount

    # -- vector index file ----------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        """Where the vector index file lives."""
        return self.root / INDEX_NAME

    def index_records(self) -> list[IndexRecord]:
        """The index files this database vouches for: the current one, and one being written."""
        values = self._manifest_values()
        records = []
        for key in ("index", "index_next"):
            value = values.get(key)
            if isinstance(value, dict):
                with contextlib.suppress(TypeError):  # unreadable: as if none, then rebuilt
                    records.append(IndexRecord(**value))
        return records

    def read_index(self, settings: HnswSettings) -> FaissHnswIndex | None:
        """Load the vector index, or None if none has been written.

        The file is hashed before FAISS reads it (from the same open file, so the bytes
        checked are the bytes loaded) and must be one the manifest recorded: an index copied
        from another store, left from another state of this one (a database restored from
        a backup) or damaged is refused with IndexMismatchError, never searched. An index
        written before records were kept (an older ragcli) loads unverified.
        """
        from ragcli.backends.vectors import FaissHnswIndex

        try:
            handle = open(self.index_path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreCorruptError(f"cannot read vector index {self.index_path}: "
                                    f"{exc.strerror}", "run `rag index`") from exc
        with handle:
            records = self.index_records()
            digest, size = _file_digest(handle)
            if records and not any(r.crc32 == digest and r.bytes == size for r in records):
                raise IndexMismatchError(
                    f"vector index {self.index_path} does not match {self.database_path}: it "
                    "comes from another store or another state of this one, or is damaged",
                    "run `rag index` to rebuild it from the stored vectors",
                )
            handle.seek(0)
            index = FaissHnswIndex.read_open(handle, settings, self.index_path)
        manifest = self.manifest
        if manifest is not None and index.dimension != manifest.dimension:
            raise IndexMismatchError(
                f"vector index {self.index_path} holds {index.dimension}-dimensional vectors, "
                f"the store {manifest.dimension}: it comes from another store",
                "run `rag index` to rebuild it from the stored vectors",
            )
        index.verified = bool(records)
        return index

    def write_index(self, index: FaissHnswIndex) -> None:
        """Replace the index file atomically and record its CRC-32 in the manifest.

        The record of the file about to be written is committed first (as `index_next`)
        and promoted after the rename, so a crash in between leaves a file the database
        still vouches for.
        """
        data = index.to_bytes()
        generation = max((r.generation for r in self.index_records()), default=0) + 1
        record = IndexRecord(zlib.crc32(data), len(data), len(index), generation)
        self._set_manifest({"index_next": asdict(record)})
        try:
            atomic_write_bytes(self.index_path, data)
        except OSError as exc:
            raise file_error(exc, self.index_path) from exc
        self._set_manifest({"index": asdict(record)}, drop="index_next")

    def _set_manifest(self, values: dict[str, Any], drop: str = "") -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in values.items()],
            )
            self._db.execute("DELETE FROM manifest WHERE key = ?", (drop,))

    # -- integrity (rag doctor) -----------------------------------------------------------

    def quick_check(self, limit: int = 20) -> list[str]:
        """Return SQLite's `PRAGMA quick_check` complaints (none: the database file is sound)."""
        rows = [str(row[0]) for row in self._query(f"PRAGMA quick_check({int(limit)})")]
        if rows == ["ok"]:
            return []
        lines = [line for row in rows for line in row.splitlines()]
        return [line for line in lines if not line.startswith("*** in database")]

    def keyword_index_problem(self, against_chunks: bool = True) -> str | None:
        """Check the FTS5 index (and that it matches the chunks); return what is wrong, or None.

        About 2 s per 100,000 chunks for the index alone, 4 s against the chunks.
        """
        try:
            self._db.execute("INSERT INTO chunks_fts(chunks_fts, rank) "
                             f"VALUES ('integrity-check', {int(against_chunks)})")
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                return str(exc)
            raise_database_error(exc, self.database_path, "check")  # read-only, disk full
        return None

    def check_keyword_index(self, max_chunks: int) -> None:
        """Fail if the FTS5 index is damaged; checked only in stores of up to max_chunks."""
        if int(self._query("SELECT COUNT(*) FROM chunks")[0][0]) > max_chunks:
            return
        problem = self.keyword_index_problem(against_chunks=False)
        if problem is not None:
            raise StoreCorruptError(
                f"the keyword index of store {self.root} is damaged ({problem}); what this run "
                "wrote is committed", DOCTOR_HINT)

    def rebuild_keyword_index(self) -> None:
        """Rebuild the FTS5 index from the chunks (and SQLite's own indexes from their tables)."""
        with self._transaction():
            self._db.execute("REINDEX")
            self._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")

    def damaged_vectors(self, dimension: int) -> tuple[int, list[str]]:
        """Return how many vectors are cached and the keys of those of the wrong length or
        with values that are not finite."""
        damaged: list[str] = []
        total = 0
        last = ""
        while True:
            rows = self._query("SELECT text_sha256, vector FROM embeddings WHERE text_sha256 > ? "
                               "ORDER BY text_sha256 LIMIT 10000", (last,))
            if not rows:
                return total, damaged
            total += len(rows)
            last = rows[-1][0]
            for key, blob in rows:
                if not isinstance(blob, bytes) or len(blob) != 4 * dimension or not np.isfinite(
                        np.frombuffer(blob, dtype="<f4")).all():
                    damaged.append(str(key))

    def drop_embeddings(self, keys: Sequence[str]) -> None:
        """Forget cached vectors, so that the next index run embeds their texts again."""
        with self._transaction():
            self._db.executemany("DELETE FROM embeddings WHERE text_sha256 = ?",
                                 [(key,) for key in keys])

    def chunks_using(self, keys: Sequence[str]) -> int:
        """Return how many live chunks have one of these texts."""
        count = 0
        for start in range(0, len(keys), 500):
            batch = list(keys[start:start + 500])
            marks = ",".join("?" * len(batch))
            count += int(self._query(
                f"SELECT COUNT(*) FROM chunks WHERE text_sha256 IN ({marks})", batch)[0][0])
        return count

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
            held = index.ids() if index is not None else np.zeros(0, dtype=np.int64)
            tombstones = int(np.setdiff1d(held, self.indexable_ids()).size)
            indexed = len(held) - tombstones
        return StoreStatus(str(self.root), documents, chunks, embedded, indexed, tombstones,
                           index_bytes, manifest, problem)


def _wal_deleted_under_a_reader(database: Path) -> bool:
    """Whether the write-ahead log is gone while another process still has the store open.

    SQLite removes both the -wal and the -shm file when the last connection closes; a
    -shm without its -wal means the log was deleted. Another process's hold is seen as
    its lock on the -shm file's "dead man switch" byte (128), which SQLite keeps while
    a connection is open. (Probed only in that state, when no connection of this
    process can have the file open: closing the probe drops this process's locks on it.)
    """
    if database.with_name(f"{database.name}-wal").exists():
        return False
    return shm_in_use(database)


def _on_read_only_media(database: Path) -> bool:
    """Whether the database sits on a read-only file system with no log beside it."""
    try:
        read_only = bool(os.statvfs(database.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False
    return read_only and not database.with_name(f"{database.name}-wal").exists()


def shm_in_use(database: Path) -> bool:
    """Whether another process has the database open (see _wal_deleted_under_a_reader)."""
    try:
        descriptor = os.open(database.with_name(f"{database.name}-shm"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
    except OSError:
        return True
    finally:
        os.close(descriptor)
    return False


@dataclass(frozen=True)
class IndexRecord:
    """What the manifest remembers of an index file it wrote: checksum, size, generation.

    CRC-32 rather than sha256: it catches damage and tells states apart as surely (the
    size and count must match too; no one forges an index against ragcli) at half the
    cost, which every cold search pays (0.07 s against 0.14 s for a 100k-vector index).
    """

    crc32: int
    bytes: int
    vectors: int
    generation: int


def _file_digest(handle: BinaryIO) -> tuple[int, int]:
    """Return the CRC-32 and size of an open file, read in blocks."""
    checksum = 0
    size = 0
    while block := handle.read(1 << 20):
        checksum = zlib.crc32(block, checksum)
        size += len(block)
    return checksum, size


def _check_vector(root: Path, chunk_id: int, blob: object, dimension: int) -> None:
    """Fail on a stored vector of the wrong type or length (a damaged row)."""
    if not isinstance(blob, bytes) or len(blob) != 4 * dimension:
        size = len(blob) if isinstance(blob, bytes) else type(blob).__name__
        raise StoreCorruptError(
            f"store {root} has a damaged vector (chunk {chunk_id}: {size} bytes, "
            f"not {4 * dimension})", DOCTOR_HINT.replace("repair it", "re-embed it"),
        )


def _as_matrix(
    root: Path, ids: list[int], blobs: list[bytes], dimension: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), dimension)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise StoreCorruptError(
            f"store {root} has a damaged vector (chunk {ids[int(np.argmin(finite))]}: values "
            "that are not finite)", DOCTOR_HINT.replace("repair it", "re-embed it"),
        )
    return np.asarray(ids, dtype=np.int64), matrix.astype(np.float32)


def _chunk_from_row(row: Sequence[Any]) -> Chunk:
    chunk_id, text, path, page, start_line, end_line, start_char, end_char, heading = row
    return Chunk(
        text=str(text), path=_path_of(path), page=None if page is None else int(page),
        start_line=int(start_line), end_line=int(end_line), start_char=int(start_char),
        end_char=int(end_char), heading=str(heading), id=int(chunk_id),
    )


def _stored_path(path: str) -> str | bytes:
    """A path as the documents table holds it: TEXT when it is UTF-8, else a BLOB of its bytes.

    A name that is not valid UTF-8 arrives with surrogate escapes, which SQLite cannot take
    as text; its bytes are stored instead, so it round-trips exactly and a BLOB never equals
    (or collides with) a TEXT path. Paths stored before keep their meaning.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def _path_of(value: str | bytes) -> str:
    """A stored path as Python names files: bytes that are not UTF-8 as surrogate escapes."""
    return os.fsdecode(value) if isinstance(value, bytes) else str(value)
