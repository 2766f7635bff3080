"""Document and chunk rows, and how a path is stored."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ragcli.records import Chunk, SourceFile, StoredDocument
from ragcli.store.database import Database

if TYPE_CHECKING:
    from numpy.typing import NDArray

_INSERT_BATCH = 512

CHUNK_COLUMNS = (
    "c.id, c.text, d.path, c.page, c.start_line, c.end_line, c.start_char, c.end_char, "
    "c.heading, c.ocr"
)


def text_key(chunk: Chunk) -> str:
    """The embedding-cache key of a chunk: sha256 of exactly what the embedder reads."""
    return hashlib.sha256(chunk.embed_text.encode("utf-8")).hexdigest()


class DocumentRows(Database):
    """Documents, their chunks and keyword search over them."""

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
                batch.append(
                    (
                        document_id,
                        count,
                        chunk.text,
                        chunk.heading,
                        chunk.page,
                        chunk.start_line,
                        chunk.end_line,
                        chunk.start_char,
                        chunk.end_char,
                        text_key(chunk),
                        int(chunk.ocr),
                    )
                )
                count += 1
                if len(batch) >= _INSERT_BATCH:
                    self._insert_chunks(batch)
                    batch = []
            self._insert_chunks(batch)
        return count

    def _insert_chunks(self, rows: list[tuple[object, ...]]) -> None:
        self._db.executemany(
            "INSERT INTO chunks(document_id, ordinal, text, heading, page, start_line, "
            "end_line, start_char, end_char, text_sha256, ocr) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        documents = [
            StoredDocument(_path_of(p), str(k), int(s), str(h), float(t), int(n))
            for p, k, s, h, t, n in rows
        ]
        return sorted(documents, key=lambda document: os.fsencode(document.path))

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, Chunk]:
        """Return the stored chunks with the given ids (ids no longer stored are left out)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE c.id IN ({marks})",
            list(ids),
        )
        return {row[0]: chunk_from_row(row) for row in rows}

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


def chunk_from_row(row: Sequence[Any]) -> Chunk:
    chunk_id, text, path, page, start_line, end_line, start_char, end_char, heading, ocr = row
    return Chunk(
        text=str(text),
        path=_path_of(path),
        page=None if page is None else int(page),
        start_line=int(start_line),
        end_line=int(end_line),
        start_char=int(start_char),
        end_char=int(end_char),
        heading=str(heading),
        id=int(chunk_id),
        ocr=bool(ocr),
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
