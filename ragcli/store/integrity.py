"""Checks and repairs of a store's database for `rag doctor`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np

from ragcli.errors import StoreCorruptError
from ragcli.store.database import Database
from ragcli.store.faults import DOCTOR_HINT, raise_database_error


class Integrity(Database):
    """What `rag doctor` checks and mends in the database."""

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
            self._db.execute(
                "INSERT INTO chunks_fts(chunks_fts, rank) "
                f"VALUES ('integrity-check', {int(against_chunks)})"
            )
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
                "wrote is committed",
                DOCTOR_HINT,
            )

    def rebuild_keyword_index(self) -> None:
        """Rebuild the FTS5 index from the chunks (and SQLite's own indexes from their tables)."""
        with self._transaction():
            self._db.execute("REINDEX")
            self._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")

    def damaged_vectors(self, dimension: int) -> tuple[int, list[str]]:
        """Return how many vectors are cached and the keys of those of the wrong length, with
        values that are not finite, or all zero (a vector no question can score against)."""
        damaged: list[str] = []
        total = 0
        last = ""
        while True:
            rows = self._query(
                "SELECT text_sha256, vector FROM embeddings WHERE text_sha256 > ? "
                "ORDER BY text_sha256 LIMIT 10000",
                (last,),
            )
            if not rows:
                return total, damaged
            total += len(rows)
            last = rows[-1][0]
            for key, blob in rows:
                if not isinstance(blob, bytes) or len(blob) != 4 * dimension:
                    damaged.append(str(key))
                    continue
                values = np.frombuffer(blob, dtype="<f4")
                if not np.isfinite(values).all() or not values.any():
                    damaged.append(str(key))

    def drop_embeddings(self, keys: Sequence[str]) -> None:
        """Forget cached vectors, so that the next index run embeds their texts again."""
        with self._transaction():
            self._db.executemany(
                "DELETE FROM embeddings WHERE text_sha256 = ?", [(key,) for key in keys]
            )

    def chunks_using(self, keys: Sequence[str]) -> int:
        """Return how many live chunks have one of these texts."""
        count = 0
        for start in range(0, len(keys), 500):
            batch = list(keys[start : start + 500])
            marks = ",".join("?" * len(batch))
            count += int(
                self._query(f"SELECT COUNT(*) FROM chunks WHERE text_sha256 IN ({marks})", batch)[
                    0
                ][0]
            )
        return count
