"""`rag status` figures of a store: its rows counted, its index asked for its own."""

from __future__ import annotations

import os

import numpy as np

from ragcli.errors import IndexMismatchError
from ragcli.records import StoreStatus
from ragcli.store.embeddings import EmbeddingRows
from ragcli.store.vectors import VectorStore


class StatusReport(EmbeddingRows, VectorStore):
    """What a store holds, as `rag status` reports it."""

    def counts(self) -> tuple[int, int]:
        """How many documents and chunks the store holds (cheap: no vectors opened)."""
        documents, chunks = self._query(
            "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks)"
        )[0]
        return int(documents), int(chunks)

    def size_bytes(self) -> int:
        """The bytes of the store directory's own files (a vector database's are elsewhere)."""
        total = 0
        for entry in os.scandir(self.root):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        return total

    def status(self) -> StoreStatus:
        """Count what the store holds."""
        documents, chunks, embedded = self._query(
            "SELECT (SELECT COUNT(*) FROM documents), COUNT(c.id), COUNT(e.text_sha256) "
            "FROM chunks c LEFT JOIN embeddings e ON e.text_sha256 = c.text_sha256"
        )[0]
        manifest = self.manifest
        index_bytes = self.index_path.stat().st_size if self.index_path.is_file() else 0
        indexed = tombstones = 0
        count = None
        problem = None
        if manifest is not None and self.has_vectors(manifest):
            try:
                index = self.open_vectors(manifest)
            except IndexMismatchError as exc:  # status reports it; search refuses it
                index, problem = None, str(exc)
            if index is not None:
                try:
                    count = index.count()
                    live = self.indexable_ids()
                    if index.keeps_removed:
                        # Entries of chunks removed since the index was built: tombstones.
                        tombstones = int(np.setdiff1d(index.ids(), live).size)
                        indexed = count - tombstones
                    else:
                        indexed = count
                        if count != live.size:
                            problem = (
                                f"the vector store holds {count} vectors, the database "
                                f"{live.size} embedded chunks to index (run `rag index`)"
                            )
                finally:
                    index.close()
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
            manifest.vectors if manifest is not None else None,
            count,
        )
