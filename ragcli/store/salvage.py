"""Copy every row SQLite can still read into a fresh database file and put it in place.

For damage `REINDEX` cannot mend: a damaged page of an index is rebuilt from its table by
the copy; a damaged page of a table stops that table's copy there, and what went with it
is named. Only `rag doctor` calls this, under the writer lock.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ragcli.errors import StoreCorruptError
from ragcli.store.connection import shm_in_use
from ragcli.store.layout import DATABASE_NAME
from ragcli.store.migrations import create_schema
from ragcli.store.vectors import RECORD_KEY

# Copied in this order; each table's columns, as the schema declares them.
_TABLES = (
    ("manifest", "key, value"),
    ("documents", "id, path, kind, size, mtime, sha256, ingested_at"),
    (
        "chunks",
        "id, document_id, ordinal, text, heading, page, start_line, end_line, "
        "start_char, end_char, text_sha256, ocr",
    ),
    ("embeddings", "text_sha256, vector"),
)
_BATCH = 2000


@dataclass
class Salvage:
    """What the copy kept and where it had to stop."""

    copied: dict[str, int] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)


def salvage_database(root: Path) -> Salvage:
    """Rebuild root's database from its readable rows; the caller must have closed it."""
    database = root / DATABASE_NAME
    fresh_path = root / f".{DATABASE_NAME}.salvage"
    fresh_path.unlink(missing_ok=True)
    result = Salvage()
    old = sqlite3.connect(database, isolation_level=None)
    fresh = sqlite3.connect(fresh_path, isolation_level=None)
    try:
        fresh.execute("BEGIN")
        create_schema(fresh)
        for table, columns in _TABLES:
            _copy(old, fresh, table, columns, result)
        if "manifest" in result.stopped:
            raise StoreCorruptError(
                f"the manifest of {database} cannot be read: nothing to rebuild from",
                "restore a backup, or ingest again",
            )
        _drop_partial_documents(fresh, result)
        # vector_ids is not copied: the next write lists the vector database's ids instead.
        fresh.execute("DELETE FROM manifest WHERE key = ?", (RECORD_KEY,))
        _keep_sequence(old, fresh)
        fresh.execute("COMMIT")
        fresh.execute("PRAGMA journal_mode=WAL")
    finally:
        fresh.close()
        old.close()
    if shm_in_use(database):
        fresh_path.unlink(missing_ok=True)
        raise StoreCorruptError(
            f"another process has {database} open",
            "stop every rag process using the store, then run `rag doctor` again",
        )
    _put_in_place(fresh_path, database)
    return result


def _copy(
    old: sqlite3.Connection, fresh: sqlite3.Connection, table: str, columns: str, result: Salvage
) -> None:
    columns = _present(old, table, columns)
    marks = ",".join("?" * len(columns.split(",")))
    count = 0
    batch: list[tuple[object, ...]] = []
    try:
        for row in old.execute(f"SELECT {columns} FROM {table}"):
            batch.append(row)
            if len(batch) >= _BATCH:
                fresh.executemany(f"INSERT INTO {table}({columns}) VALUES ({marks})", batch)
                count += len(batch)
                batch = []
    except sqlite3.DatabaseError as exc:
        result.stopped[table] = str(exc)
    fresh.executemany(f"INSERT INTO {table}({columns}) VALUES ({marks})", batch)
    result.copied[table] = count + len(batch)


def _present(old: sqlite3.Connection, table: str, columns: str) -> str:
    """The columns the old table has: one from before a later format lacks some (`ocr`)."""
    try:
        have = {row[1] for row in old.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        return columns  # the copy itself will say what is wrong
    kept = [name.strip() for name in columns.split(",") if name.strip() in have]
    return ", ".join(kept) if have else columns


def _drop_partial_documents(fresh: sqlite3.Connection, result: Salvage) -> None:
    """Remove documents whose chunks may be incomplete, so the next ingest reads them again."""
    fresh.execute("DELETE FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")
    if "documents" in result.stopped:
        result.lost.append(
            f"the documents stored after the damage ({result.stopped['documents']}"
            "; their names are unreadable): ingest their folders again"
        )
    if "chunks" not in result.stopped:
        return
    suspects = {
        row[0]
        for row in fresh.execute(
            "SELECT id FROM documents WHERE id NOT IN (SELECT document_id FROM chunks) OR id = "
            "(SELECT document_id FROM chunks ORDER BY id DESC LIMIT 1)"
        )
    }
    for document_id in sorted(suspects):
        path = fresh.execute("SELECT path FROM documents WHERE id = ?", (document_id,))
        result.lost.append(
            f"{path.fetchone()[0]}: its chunks could not all be read; ingest it again"
        )
        fresh.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
        fresh.execute("DELETE FROM documents WHERE id = ?", (document_id,))


def _keep_sequence(old: sqlite3.Connection, fresh: sqlite3.Connection) -> None:
    """Carry over the highest chunk id ever given, so no id is reused (it names a text)."""
    try:
        row = old.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
    except sqlite3.DatabaseError:
        return
    if row is not None:
        fresh.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'chunks'", (int(row[0]),)
        )


def _put_in_place(fresh_path: Path, database: Path) -> None:
    """Replace the database by the copy; the old log and index files go with it."""
    with fresh_path.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(fresh_path, database)
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    directory = os.open(database.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
