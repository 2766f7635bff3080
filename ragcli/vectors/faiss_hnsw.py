"""Vectors in the store's own FAISS HNSW file: the only faiss import.

The index lives in memory; the store reads and writes its file (`store/index_file.py`:
atomic, checksummed), and `FaissVectors` ties the two together as a `VectorBackend`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ragcli.errors import StoreCorruptError
from ragcli.records import HnswSettings
from ragcli.vectors.base import IndexFigures

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.records import Manifest
    from ragcli.vectors.base import IndexFileAccess, VectorIndex


class FaissHnswIndex:
    """`IndexIDMap2(IndexHNSWFlat)` with inner product: cosine on normalised vectors."""

    KIND = "faiss-hnsw"
    # HNSW in FAISS cannot delete: removed ids are excluded at search time until a rebuild.
    keeps_removed = True

    def __init__(self, index: Any, settings: HnswSettings) -> None:
        self._index = index
        self.settings = settings
        # Whether the store checked this index against its manifest's record when loading.
        self.verified = True
        self._hnsw().hnsw.efSearch = settings.ef_search

    @classmethod
    def create(cls, dimension: int, settings: HnswSettings) -> FaissHnswIndex:
        """Make an empty index."""
        import faiss

        inner = faiss.IndexHNSWFlat(dimension, settings.m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = settings.ef_construction
        return cls(faiss.IndexIDMap2(inner), settings)

    @classmethod
    def read(cls, path: Path, settings: HnswSettings) -> FaissHnswIndex:
        """Load an index written by `to_bytes`."""
        from ragcli.files import open_regular_binary

        try:
            handle = open_regular_binary(path)  # a FIFO or a device is refused, never read
        except OSError as exc:
            raise StoreCorruptError(
                f"cannot read vector index {path}: {exc.strerror}", "run `rag index --rebuild`"
            ) from exc
        with handle:
            return cls.read_open(handle, settings, path)

    @classmethod
    def read_open(cls, handle: BinaryIO, settings: HnswSettings, path: Path) -> FaissHnswIndex:
        """Load an index from an open file (named `path` in messages), from its start.

        FAISS reads the very file already open (through /dev/fd), not whatever the name
        points to by now: a writer may have renamed a new index over it meanwhile.
        """
        import faiss

        try:
            os.lseek(handle.fileno(), 0, os.SEEK_SET)
            index = faiss.read_index(f"/dev/fd/{handle.fileno()}")
        except (RuntimeError, MemoryError, ValueError, OSError) as exc:
            raise StoreCorruptError(
                f"cannot read vector index {path}", "run `rag index --rebuild`"
            ) from exc
        if not isinstance(index, faiss.IndexIDMap2):
            raise StoreCorruptError(
                f"{path} is not a ragcli HNSW index ({type(index).__name__})",
                "run `rag index --rebuild`",
            )
        return cls(index, settings)

    def _hnsw(self) -> Any:
        import faiss

        return faiss.downcast_index(self._index.index)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def count(self) -> int:
        return len(self)

    @property
    def dimension(self) -> int:
        """Length of the vectors held."""
        return int(self._index.d)

    def ids(self) -> NDArray[np.int64]:
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and len(self):
            # HNSW cannot replace a vector: an id held keeps its own (a chunk's text, and so
            # its vector, never changes under one id).
            fresh = ~np.isin(ids, self.ids())
            ids, vectors = ids[fresh], np.asarray(vectors)[fresh]
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.ascontiguousarray(ids, dtype=np.int64),
            )

    def remove(self, ids: NDArray[np.int64]) -> None:
        """Nothing to do: HNSW cannot delete, so removed ids stay as tombstones until a rebuild."""

    def flush(self) -> None:
        """Nothing to do: `FaissVectors.save` writes the whole index to the store's file."""

    def close(self) -> None:
        """Nothing to do: the index is memory only."""

    def search(
        self, query: NDArray[np.float32], k: int, exclude: NDArray[np.int64] | None = None
    ) -> list[tuple[int, float]]:
        import faiss

        if len(self) == 0 or k <= 0:
            return []
        matrix = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if exclude is None or exclude.size == 0:
            scores, ids = self._index.search(matrix, min(k, len(self)))
        else:
            # The selector filters inside the graph search, so k live results still come back
            # (filtering afterwards could return fewer). Ids are translated by the IdMap.
            banned = faiss.IDSelectorBatch(np.ascontiguousarray(exclude, dtype=np.int64))
            params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
                sel=faiss.IDSelectorNot(banned), efSearch=self.settings.ef_search
            )
            scores, ids = self._index.search(matrix, min(k, len(self)), params=params)
            del banned  # kept alive until the search has run
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    @staticmethod
    def single_query_threads() -> None:
        """Search with one OpenMP thread: the process only ever asks one query at a time.

        faiss starts a team of threads for every call, even for one query; when another
        process holds the other core, each search then waits milliseconds for that thread
        (bench/scale_bench.py measured p50 0.35 ms become 8-12 ms on a shared machine).
        """
        import faiss

        faiss.omp_set_num_threads(1)

    def to_bytes(self) -> bytes:
        """Serialise the index (no pickle) for the store's index file."""
        import faiss

        return faiss.serialize_index(self._index).tobytes()

    def describe(self) -> IndexFigures:
        return IndexFigures(self.KIND, len(self), self.dimension, self.settings)


class FaissVectors:
    """A `faiss` store's vectors: one HNSW index in the store's index file."""

    external = False

    def __init__(self, manifest: Manifest, files: IndexFileAccess) -> None:
        self._manifest = manifest
        self._files = files

    def exists(self) -> bool:
        return self._files.index_path.is_file()

    def open(self) -> VectorIndex | None:
        settings = self._manifest.hnsw
        return self._files.read_index(
            lambda handle, path: FaissHnswIndex.read_open(handle, settings, path)
        )

    def create(self) -> VectorIndex:
        return FaissHnswIndex.create(self._manifest.dimension, self._manifest.hnsw)

    def save(self, index: VectorIndex) -> None:
        assert isinstance(index, FaissHnswIndex)  # made by this backend's open or create
        self._files.write_index(index.to_bytes(), len(index))

    def prepare(self) -> None:
        """Nothing to do: the file is written by the first save."""

    def drop(self) -> None:
        """Nothing to do: the file goes with the store directory."""
