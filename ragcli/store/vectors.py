"""A store's vectors, wherever its manifest says they live: its FAISS file or a vector database.

Every verb that reads or writes vectors opens them here; the backend is picked by the
manifest's `vectors` URI (`registry.vector_backend`). SQLite stays the source of truth: a
vector database is a derived copy, brought back in step by `indexing.update_index`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragcli.backends.registry import FAISS_VECTORS
from ragcli.store.index_file import IndexFile

if TYPE_CHECKING:
    from ragcli.backends.vectors import VectorIndex
    from ragcli.records import Manifest


class VectorStore(IndexFile):
    """Opening, starting afresh and saving the store's vectors, for every backend."""

    def open_vectors(self, manifest: Manifest) -> VectorIndex | None:
        """Open the store's vectors, or None if none have been written yet."""
        if manifest.vectors == FAISS_VECTORS:
            return self.read_index(manifest.hnsw)
        from ragcli.backends.registry import open_vector_store

        return open_vector_store(manifest)

    def new_vectors(self, manifest: Manifest) -> VectorIndex:
        """Return empty vectors to rebuild into (a vector database's are emptied now)."""
        from ragcli.backends.registry import make_vector_index, open_vector_store

        if manifest.vectors == FAISS_VECTORS:
            return make_vector_index(manifest.dimension, manifest.hnsw)
        index = open_vector_store(manifest, fresh=True)
        assert index is not None  # fresh always makes them
        return index

    def save_vectors(self, index: VectorIndex) -> None:
        """Make what was added and removed durable: the FAISS file, or a database's flush."""
        from ragcli.backends.vectors import FaissHnswIndex

        if isinstance(index, FaissHnswIndex):
            self.write_index(index)
        else:
            index.flush()

    def has_vectors(self, manifest: Manifest) -> bool:
        """Whether vectors may have been written (without opening a database to find out)."""
        return manifest.vectors != FAISS_VECTORS or self.index_path.is_file()
