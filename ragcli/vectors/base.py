"""What every vector backend offers: the `VectorIndex` searched and its life cycle.

A store's manifest names where its vectors live (`vectors`: `faiss`, `milvus://...`);
`vectors.factory.backend_for` picks the `VectorBackend` for it, which opens, creates,
saves and drops the `VectorIndex`. SQLite stays the source of truth: the vectors are a
derived copy, brought back in step by `indexing.update_index`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ragcli.records import HnswSettings

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class IndexFigures:
    """What a vector index reports of itself: its kind, size and search parameters."""

    kind: str
    count: int
    dimension: int
    settings: HnswSettings


class VectorIndex(Protocol):
    """Nearest-neighbour search by inner product over L2-normalised vectors, by chunk id.

    Every reader and writer of a store's vectors goes through this: the store picks the
    implementation from the URI its manifest records (`factory.backend_for`), and its
    `VectorBackend` persists it (`save`).
    """

    # Whether the store checked this index against its manifest's record when loading.
    verified: bool
    # Whether removed ids stay in the index (as tombstones) until it is rebuilt: searches
    # must then exclude them. False for a backend that deletes them for real.
    keeps_removed: bool

    @property
    def dimension(self) -> int:
        """Length of the vectors held."""
        ...

    def count(self) -> int:
        """Return how many vectors the index holds (tombstones included)."""
        ...

    def ids(self) -> NDArray[np.int64]:
        """Return every id held (may be slow on a remote backend: for repairs, not searches)."""
        ...

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        """Add vectors under the given ids; an id already held is not duplicated."""
        ...

    def remove(self, ids: NDArray[np.int64]) -> None:
        """Remove ids (where `keeps_removed`, they stay until a rebuild)."""
        ...

    def search(
        self, query: NDArray[np.float32], k: int, exclude: NDArray[np.int64] | None = None
    ) -> list[tuple[int, float]]:
        """Return up to k (id, score) pairs, best first, never an id in `exclude`."""
        ...

    def single_query_threads(self) -> None:
        """Tune searching for one query at a time, as ask and search run them."""
        ...

    def flush(self) -> None:
        """Make what was added and removed durable and searchable, where the backend must."""
        ...

    def describe(self) -> IndexFigures:
        """Report the index's kind, size and parameters."""
        ...

    def close(self) -> None:
        """Release what the index holds open (connections, locks)."""
        ...


class VectorBackend(Protocol):
    """Where one store's vectors live, and their life cycle: open, create, save, drop."""

    # Kept outside the store directory (a vector database): the store then records which
    # ids it holds there (store/vectors.py), as listing them all is slow.
    external: bool

    def exists(self) -> bool:
        """Whether vectors may have been written (without connecting to find out)."""
        ...

    def open(self) -> VectorIndex | None:
        """Open the vectors, or None if none have been written yet."""
        ...

    def create(self) -> VectorIndex:
        """Return empty vectors to rebuild into (a database's are emptied now)."""
        ...

    def save(self, index: VectorIndex) -> None:
        """Make what was added and removed durable: a file written, or a database flushed."""
        ...

    def prepare(self) -> None:
        """Make a new store's vectors ready, before its manifest names them (a typo fails)."""
        ...

    def drop(self) -> None:
        """Delete vectors kept outside the store directory; nothing for a file in it."""
        ...


# Reads an index from an open file (named by the path in messages), from its start.
IndexLoader = Callable[[BinaryIO, Path], "VectorIndex"]


class IndexFileAccess(Protocol):
    """What a backend keeping its vectors in the store directory may do there (the store)."""

    @property
    def index_path(self) -> Path:
        """Where the vector index file lives."""
        ...

    def read_index(self, load: IndexLoader) -> VectorIndex | None:
        """Load the index file through `load` once checked against the store; None if absent."""
        ...

    def write_index(self, data: bytes, count: int) -> None:
        """Replace the index file (holding `count` vectors) atomically, and record it."""
        ...
