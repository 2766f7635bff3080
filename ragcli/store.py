"""The store directory: SQLite rows (documents, chunks, vectors, manifest) and the index file.

This is the only module that reads or writes a store. Layout of a store directory:

    store.sqlite3   documents, chunks with their embeddings, manifest (format below)
    index.faiss     the vector index, always replaced whole by an atomic rename
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragcli.errors import StoreCorruptError, StoreNotFoundError
from ragcli.records import (
    Chunk,
    ChunkingSettings,
    HnswSettings,
    Manifest,
    SourceFile,
    StoreStatus,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.backends.vectors import FaissHnswIndex

FORMAT_VERSION = 1
DATABASE_NAME = "store.sqlite3"
INDEX_NAME = "index.faiss"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    pages INTEGER NOT NULL,
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
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS chunks_unembedded ON chunks(id) WHERE embedding IS NULL;
"""

_CHUNK_COLUMNS = "c.id, c.text, d.path, c.page, c.start_line, c.end_line, c.start_char, " \
    "c.end_char, c.heading"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a torn one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class Store:
    """An open store directory."""

    def __init__(self, root: Path, connection: sqlite3.Connection) -> None:
        self.root = root
        self._db = connection

    @classmethod
    def open(cls, root: Path, create: bool = False) -> Store:
        """Open the store at root; create it when asked, else fail if it is missing."""
        database = root / DATABASE_NAME
        if not database.is_file():
            if not create:
                raise StoreNotFoundError(
                    f"no store at {root}", "run `rag ingest PATH` first or pass --store DIR"
                )
            root.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(database, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"cannot open store database {database}: {exc}") from exc
        store = cls(root, connection)
        store._check_version()
        return store

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- manifest ---------------------------------------------------------------------

    def _manifest_values(self) -> dict[str, object]:
        rows = self._db.execute("SELECT key, value FROM manifest").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def _check_version(self) -> None:
        version = self._manifest_values().get("format_version")
        if version is not None and version != FORMAT_VERSION:
            raise StoreCorruptError(
                f"store {self.root} has format version {version}; this ragcli reads "
                f"version {FORMAT_VERSION}",
                "rebuild it with `rag ingest` into a new --store",
            )

    @property
    def manifest(self) -> Manifest | None:
        """How the store was built, or None for a store that has never been written."""
        values = self._manifest_values()
        if "embedder" not in values:
            return None
        try:
            return Manifest(
                format_version=int(values["format_version"]),  # type: ignore[call-overload]
                embedder=str(values["embedder"]),
                dimension=int(values["dimension"]),  # type: ignore[call-overload]
                max_text_tokens=int(values["max_text_tokens"]),  # type: ignore[call-overload]
                normalized=bool(values["normalized"]),
                chunking=ChunkingSettings(**values["chunking"]),  # type: ignore[arg-type]
                hnsw=HnswSettings(**values["hnsw"]),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreCorruptError(f"store {self.root} has an unreadable manifest") from exc

    def write_manifest(self, manifest: Manifest) -> None:
        """Record how the store is built."""
        values = asdict(manifest)
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in values.items()],
            )

    # -- documents and chunks -----------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Commit on success; roll back on any exception, KeyboardInterrupt included."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def fingerprint(self, path: str) -> str | None:
        """Return the stored content sha256 of a document, or None if it is not stored."""
        row = self._db.execute("SELECT sha256 FROM documents WHERE path = ?", (path,)).fetchone()
        return None if row is None else str(row[0])

    def replace_document(
        self, source: SourceFile, kind: str, pages: int, chunks: Sequence[Chunk]
    ) -> None:
        """Store a document and its chunks in one transaction, replacing any older version."""
        with self._transaction():
            self._db.execute("DELETE FROM documents WHERE path = ?", (source.path,))
            cursor = self._db.execute(
                "INSERT INTO documents(path, kind, size, mtime, sha256, pages, ingested_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (source.path, kind, source.size, source.mtime, source.sha256, pages, time.time()),
            )
            self._db.executemany(
                "INSERT INTO chunks(document_id, ordinal, text, heading, page, start_line, "
                "end_line, start_char, end_char) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (cursor.lastrowid, n, c.text, c.heading, c.page, c.start_line, c.end_line,
                     c.start_char, c.end_char)
                    for n, c in enumerate(chunks)
                ],
            )

    def iter_unembedded(self, batch_size: int) -> Iterator[list[Chunk]]:
        """Yield batches of chunks that have no embedding yet."""
        last_id = 0
        while True:
            rows = self._db.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE c.embedding IS NULL AND c.id > ? ORDER BY c.id LIMIT ?",
                (last_id, batch_size),
            ).fetchall()
            if not rows:
                return
            yield [_chunk_from_row(row) for row in rows]
            last_id = rows[-1][0]

    def count_unembedded(self) -> int:
        """Return how many chunks still need an embedding."""
        return int(self._db.execute("SELECT COUNT(*) FROM chunks WHERE embedding IS NULL")
                   .fetchone()[0])

    def save_embeddings(self, ids: Sequence[int], vectors: NDArray[np.float32]) -> None:
        """Store one embedding per chunk id, in one transaction."""
        blobs = np.ascontiguousarray(vectors, dtype="<f4")
        with self._transaction():
            self._db.executemany(
                "UPDATE chunks SET embedding = ? WHERE id = ?",
                [(blobs[row].tobytes(), chunk_id) for row, chunk_id in enumerate(ids)],
            )

    def embedded_vectors(
        self, dimension: int, exclude: Iterable[int] = ()
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Return ids and stored vectors of every embedded chunk not in `exclude`."""
        skip = set(exclude)
        ids: list[int] = []
        blobs: list[bytes] = []
        for chunk_id, blob in self._db.execute(
            "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id"
        ):
            if chunk_id not in skip:
                ids.append(chunk_id)
                blobs.append(blob)
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), dimension)
        return np.asarray(ids, dtype=np.int64), matrix.astype(np.float32)

    def embedded_ids(self) -> NDArray[np.int64]:
        """Return the ids of every chunk that has an embedding."""
        rows = self._db.execute("SELECT id FROM chunks WHERE embedding IS NOT NULL").fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, Chunk]:
        """Return the stored chunks with the given ids."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE c.id IN ({marks})",
            list(ids),
        ).fetchall()
        return {row[0]: _chunk_from_row(row) for row in rows}

    # -- vector index file ----------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        """Where the vector index file lives."""
        return self.root / INDEX_NAME

    def read_index(self, settings: HnswSettings) -> FaissHnswIndex | None:
        """Load the vector index, or None if none has been written."""
        from ragcli.backends.vectors import FaissHnswIndex

        if not self.index_path.is_file():
            return None
        return FaissHnswIndex.read(self.index_path, settings)

    def write_index(self, index: FaissHnswIndex) -> None:
        """Replace the index file atomically."""
        atomic_write_bytes(self.index_path, index.to_bytes())

    def status(self) -> StoreStatus:
        """Count what the store holds."""
        documents, chunks, embedded = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM documents), COUNT(*), COUNT(embedding) FROM chunks"
        ).fetchone()
        manifest = self.manifest
        index_bytes = self.index_path.stat().st_size if self.index_path.is_file() else 0
        indexed = 0
        if manifest is not None and index_bytes:
            index = self.read_index(manifest.hnsw)
            indexed = len(index) if index is not None else 0
        return StoreStatus(
            str(self.root), documents, chunks, embedded, indexed, index_bytes, manifest
        )


def _chunk_from_row(row: Sequence[object]) -> Chunk:
    chunk_id, text, path, page, start_line, end_line, start_char, end_char, heading = row
    return Chunk(
        text=str(text),
        path=str(path),
        page=None if page is None else int(page),  # type: ignore[call-overload]
        start_line=int(start_line),  # type: ignore[call-overload]
        end_line=int(end_line),  # type: ignore[call-overload]
        start_char=int(start_char),  # type: ignore[call-overload]
        end_char=int(end_char),  # type: ignore[call-overload]
        heading=str(heading),
        id=int(chunk_id),  # type: ignore[call-overload]
    )
