"""The embedding cache: one vector per distinct chunk text."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragcli.errors import StoreCorruptError
from ragcli.records import Chunk
from ragcli.store.database import Database
from ragcli.store.documents import CHUNK_COLUMNS, chunk_from_row, text_key
from ragcli.store.faults import DOCTOR_HINT, raise_database_error

if TYPE_CHECKING:
    from numpy.typing import NDArray

_UNEMBEDDED = "NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.text_sha256 = c.text_sha256)"


class EmbeddingRows(Database):
    """Cached vectors of chunk texts, and which chunks the index should hold."""

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
        return [
            (int(chunk_id), np.frombuffer(blob, dtype="<f4", count=dimension).astype(np.float32))
            for chunk_id, blob in rows
        ]

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
                f"SELECT {CHUNK_COLUMNS}, c.text_sha256 FROM chunks c "
                f"JOIN documents d ON d.id = c.document_id "
                f"WHERE c.id > ? AND {_UNEMBEDDED} ORDER BY c.id LIMIT ?",
                (last_id, batch_size),
            )
            if not rows:
                return
            distinct = {row[-1]: chunk_from_row(row[:-1]) for row in rows}
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
                "DELETE FROM embeddings WHERE text_sha256 NOT IN (SELECT text_sha256 FROM chunks)"
            ).rowcount


def _check_vector(root: Path, chunk_id: int, blob: object, dimension: int) -> None:
    """Fail on a stored vector of the wrong type or length (a damaged row)."""
    if not isinstance(blob, bytes) or len(blob) != 4 * dimension:
        size = len(blob) if isinstance(blob, bytes) else type(blob).__name__
        raise StoreCorruptError(
            f"store {root} has a damaged vector (chunk {chunk_id}: {size} bytes, "
            f"not {4 * dimension})",
            DOCTOR_HINT.replace("repair it", "re-embed it"),
        )


def _as_matrix(
    root: Path, ids: list[int], blobs: list[bytes], dimension: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), dimension)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise StoreCorruptError(
            f"store {root} has a damaged vector (chunk {ids[int(np.argmin(finite))]}: values "
            "that are not finite)",
            DOCTOR_HINT.replace("repair it", "re-embed it"),
        )
    return np.asarray(ids, dtype=np.int64), matrix.astype(np.float32)
