"""A store's vectors, wherever its manifest says they live: its index file or a database.

Every verb that reads or writes vectors opens them here; the backend is picked by the
manifest's `vectors` URI (`vectors.factory.backend_for`). SQLite stays the source of
truth: a vector database is a derived copy, brought back in step by `indexing.update_index`.

A store with vectors in a database also records which chunk ids it holds there (table
vector_ids), so a write compares two SQLite tables instead of listing every id the database
holds (8 s at 100k vectors). The record is vouched for by the manifest's RECORD_KEY, which
is cleared (committed) before any write to the database and set again, with the record,
after its flush: a run killed in between leaves it cleared, and the next one lists the ids.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ragcli.store.index_file import IndexFile

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.records import Manifest
    from ragcli.vectors.base import VectorBackend, VectorIndex

# The manifest key that, true, vouches that vector_ids is what the vector database holds.
RECORD_KEY = "vector_ids_exact"


class VectorStore(IndexFile):
    """Opening, starting afresh and saving the store's vectors, for every backend."""

    def vector_backend(self, manifest: Manifest) -> VectorBackend:
        """The backend keeping this store's vectors (connecting to nothing yet)."""
        from ragcli.vectors.factory import backend_for

        return backend_for(manifest, self, self.vectors_token)

    def open_vectors(self, manifest: Manifest) -> VectorIndex | None:
        """Open the store's vectors, or None if none have been written yet."""
        return self.vector_backend(manifest).open()

    def new_vectors(self, manifest: Manifest) -> VectorIndex:
        """Return empty vectors to rebuild into (a vector database's are emptied now)."""
        return self.vector_backend(manifest).create()

    def save_vectors(self, manifest: Manifest, index: VectorIndex) -> None:
        """Make what was added and removed durable: the index file, or a database's flush."""
        self.vector_backend(manifest).save(index)

    def has_vectors(self, manifest: Manifest) -> bool:
        """Whether vectors may have been written (without opening a database to find out)."""
        return self.vector_backend(manifest).exists()

    def prepare_vectors(self, manifest: Manifest) -> None:
        """Connect to a new store's vector database and create its collection (a file: nothing).

        Called before the manifest that names them is written, so a URI that cannot be
        reached (a typo) fails without binding the store to it.
        """
        self.vector_backend(manifest).prepare()

    def drop_vectors(self, manifest: Manifest) -> None:
        """Delete a store's vectors kept in a database (its collection); a file: nothing."""
        backend = self.vector_backend(manifest)
        backend.drop()
        self.distrust_vector_record(manifest)

    def recorded_vector_ids(self, manifest: Manifest) -> NDArray[np.int64] | None:
        """Return the ids the vector database holds by the store's record, sorted.

        None when the record is not vouched for (a write was cut short, or none was made
        since the store was upgraded) and for vectors in the store's own file, its own record.
        """
        if (
            not self.vector_backend(manifest).external
            or self._manifest_values().get(RECORD_KEY) is not True
        ):
            return None
        rows = self._query("SELECT id FROM vector_ids ORDER BY id")
        return np.asarray([row[0] for row in rows], dtype=np.int64)

    def distrust_vector_record(self, manifest: Manifest) -> None:
        """Withdraw the record's warrant: done (committed) before writing to the database."""
        if self.vector_backend(manifest).external:
            self._set_manifest({}, drop=RECORD_KEY)

    def record_vector_ids(
        self,
        manifest: Manifest,
        added: NDArray[np.int64],
        removed: NDArray[np.int64] | None = None,
    ) -> None:
        """Record what the database holds after a flush, and vouch for the record.

        `removed` None: the database holds exactly `added` (after a listing or a rebuild).
        """
        if not self.vector_backend(manifest).external:
            return
        with self._transaction():
            if removed is None:
                self._db.execute("DELETE FROM vector_ids")
            else:
                self._db.executemany(
                    "DELETE FROM vector_ids WHERE id = ?", [(int(i),) for i in removed]
                )
            self._db.executemany(
                "INSERT OR IGNORE INTO vector_ids(id) VALUES (?)", [(int(i),) for i in added]
            )
            self._db.execute(
                "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
                (RECORD_KEY, json.dumps(True)),
            )
