"""Opening a store's SQLite database: its lock, upgrades, transactions, manifest, WAL checks."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from ragcli.errors import (
    ManifestDamagedError,
    StoreCorruptError,
    StoreNotFoundError,
    WalDeletedError,
)
from ragcli.records import ChunkingSettings, HnswSettings, Manifest
from ragcli.store.connection import check_own_files, connect, wal_deleted_under_a_reader
from ragcli.store.faults import DOCTOR_HINT, raise_database_error
from ragcli.store.layout import DATABASE_NAME, INDEX_NAME
from ragcli.store.lock import ensure_store_dir, writer_lock
from ragcli.store.migrations import check_version, create_schema, steps_after

_Opened = TypeVar("_Opened", bound="Database")


class Database:
    """An open store database: its connection, manifest, schema and transactions."""

    def __init__(self, root: Path, connection: sqlite3.Connection) -> None:
        self.root = root
        self._db = connection
        # The writer lock a store opened for writing holds until it is closed.
        self._held = contextlib.ExitStack()
        # (device, inode) of the write-ahead log this connection writes, once it has written;
        # False where SQLite could not use a log (a file system without shared memory).
        self._wal_identity: tuple[int, int] | None | bool = None
        # The token a vector database asks for (Milvus): given to open, never stored.
        self.vectors_token: str | None = None

    @classmethod
    def open(
        cls: type[_Opened],
        root: Path,
        create: bool = False,
        *,
        write: bool = False,
        writable: bool = False,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
        vectors_token: str | None = None,
    ) -> _Opened:
        """Open the store at root; create it when asked, else fail if it is missing.

        A writer (`write`) takes the store's single-writer lock first and holds it until
        the store is closed: it waits for another writer (telling `on_wait`), or without
        `wait` fails at once. Readers take no lock and open the database read-only, so they
        never write it, not even a checkpoint of an old log over a writer's commit;
        `writable` opens it for writing without the lock, for a caller holding it already.
        `vectors_token` is what a vector database holding the store's vectors asks for.
        """
        with contextlib.ExitStack() as held:
            if write:
                held.enter_context(writer_lock(root, wait, on_wait or _ignore, create))
            store = cls._connect(root, create, writable=write or writable or create)
            store._held = held.pop_all()
        store.vectors_token = vectors_token
        return store

    @classmethod
    def _connect(cls: type[_Opened], root: Path, create: bool, writable: bool) -> _Opened:
        database = root / DATABASE_NAME
        check_own_files(database)
        existed = database.is_file()
        if existed and wal_deleted_under_a_reader(database):
            # Opening would start a new log beside the one the other process still holds.
            raise WalDeletedError(
                f"the write-ahead log {database}-wal was deleted while another process has "
                "the store open: commits now could be lost",
                "stop every rag process using the store, then run `rag doctor`",
            )
        if not existed:
            ensure_store_dir(root, create)
        store = cls(root, connect(database, existed, writable))
        try:
            if existed and store._has_schema():
                if not store._upgrade(create, writable):
                    # An older layout and a read-only connection: upgraded by a writable one.
                    store._db.close()
                    cls._connect(root, create=False, writable=True).close()
                    return cls._connect(root, create=False, writable=False)
            elif (root / INDEX_NAME).exists():
                # An index is written only after the schema: the database lost its content.
                raise StoreCorruptError(
                    f"store database {database} is empty (truncated?) beside its index", DOCTOR_HINT
                )
            elif not create:
                # A file left by a first run killed before its schema was committed.
                raise StoreNotFoundError.at(root)
            else:
                store._create_schema()
        except BaseException:
            store._db.close()
            raise
        return store

    def close(self) -> None:
        """Close the database connection; a writer then releases its lock.

        A connection that wrote checks its log a last time: one deleted since its last
        commit takes that commit along once every connection to the store has closed.
        """
        try:
            try:
                if isinstance(self._wal_identity, tuple):
                    self._check_wal()
            finally:
                self._db.close()
        finally:
            self._held.close()

    def __enter__(self: _Opened) -> _Opened:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
            return
        with contextlib.suppress(StoreCorruptError):  # the error on its way out says more
            self.close()

    def change_stamp(self) -> tuple[int, int, int] | None:
        """What changes whenever another process commits to this store or replaces its file.

        SQLite's data_version moves with every commit of another connection (the vector
        index is recorded in the manifest, so a new index moves it too); the file's device
        and inode tell a store deleted and made anew. None: the database file is gone.
        """
        try:
            stat = self.database_path.stat()
        except FileNotFoundError:
            return None
        version = int(self._query("PRAGMA data_version")[0][0])
        return version, stat.st_dev, stat.st_ino

    # -- manifest ---------------------------------------------------------------------

    @property
    def database_path(self) -> Path:
        """The SQLite file."""
        return self.root / DATABASE_NAME

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise_database_error(exc, self.database_path, "read")

    def _manifest_values(self) -> dict[str, Any]:
        rows = self._query("SELECT key, value FROM manifest")
        values: dict[str, Any] = {}
        damaged: list[str] = []
        for key, value in rows:
            try:
                values[key] = json.loads(value)
            except (TypeError, ValueError, RecursionError):
                damaged.append(str(key))
        if damaged:
            raise ManifestDamagedError.of(self.root, [f"{key} is not JSON" for key in damaged])
        return values

    def _format_version(self) -> object:
        """The manifest's format_version (None: not written yet), read alone."""
        rows = self._query("SELECT value FROM manifest WHERE key = 'format_version'")
        if not rows:
            return None
        try:
            version = json.loads(rows[0][0])
        except (TypeError, ValueError, RecursionError):
            raise ManifestDamagedError.of(self.root, ["format_version is not JSON"]) from None
        if not isinstance(version, int) or isinstance(version, bool):
            raise ManifestDamagedError.of(self.root, ["format_version is not a number"])
        return version

    def _holds_content(self) -> bool:
        """Whether the store holds what only a store with a manifest can: documents, an index."""
        if (self.root / INDEX_NAME).exists():
            return True
        tables = self._query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'documents'"
        )
        return bool(tables) and bool(self._query("SELECT EXISTS(SELECT 1 FROM documents)")[0][0])

    def _has_schema(self) -> bool:
        rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'manifest'")
        return bool(rows)

    def _upgrade(self, create: bool, writable: bool = True) -> bool:
        """Bring an older layout to the current format, one migration per transaction.

        Return False, changing nothing, when steps are due and the connection is read-only.
        """
        version = self._format_version()
        check_version(version, self.root)  # before any step touches an older layout
        if version is None:
            # A store never written (no manifest yet): a creator completes its schema.
            if create:
                self._create_schema()
            return True
        assert isinstance(version, int)
        steps = steps_after(version)
        if steps and not writable:
            return False
        for target, step in steps:
            with self._schema_change():
                step(self._db)
                self._db.execute(
                    "UPDATE manifest SET value = ? WHERE key = 'format_version'",
                    (json.dumps(target),),
                )
        return True

    def _create_schema(self) -> None:
        with self._schema_change():
            create_schema(self._db)

    @contextlib.contextmanager
    def _schema_change(self) -> Iterator[None]:
        """Change the schema in one transaction: never half a schema, never half a step."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise_database_error(exc, self.database_path, "open")
        except BaseException:
            self._rollback()
            raise

    @property
    def manifest(self) -> Manifest | None:
        """How the store was built, or None for a store that has never been written."""
        values = self._manifest_values()
        if "embedder" not in values:
            if self._holds_content():
                # Written before the first document: its rows were deleted or lost.
                missing = "embedder is missing" if values else "its rows are missing"
                raise ManifestDamagedError.of(self.root, [missing])
            return None
        try:
            return Manifest(
                format_version=int(values["format_version"]),
                embedder=str(values["embedder"]),
                dimension=int(values["dimension"]),
                max_text_tokens=int(values["max_text_tokens"]),
                normalized=bool(values["normalized"]),
                chunking=ChunkingSettings(**values["chunking"]),
                hnsw=HnswSettings(**values["hnsw"]),
                # Stores written before vector backends existed hold a FAISS index file.
                vectors=str(values.get("vectors", "faiss")),
                vector_collection=values.get("vector_collection"),
            )
        except KeyError as exc:
            raise ManifestDamagedError.of(self.root, [f"{exc.args[0]} is missing"]) from exc
        except (TypeError, ValueError) as exc:
            raise ManifestDamagedError.of(self.root, [f"a value is unreadable ({exc})"]) from exc

    def write_manifest(self, manifest: Manifest) -> None:
        """Record how the store is built."""
        self._set_manifest(asdict(manifest))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Commit on success; roll back on any exception, KeyboardInterrupt included.

        SQLite's own failures (a full disk, a read-only file, a damaged page) leave as the
        errors `faults.database_error` names, with their exit codes.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise_database_error(exc, self.database_path, "write")
        try:
            yield
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise_database_error(exc, self.database_path, "write")
        except BaseException:
            self._rollback()
            raise
        self._check_wal()

    def _check_wal(self) -> None:
        """Fail if the write-ahead log just committed to is no longer the one at its path.

        A log deleted or replaced under an open store takes the commits in it along: SQLite
        reports success, and the rows are gone once the last connection closes.
        """
        if self._wal_identity is False:
            return
        wal = self.root / f"{DATABASE_NAME}-wal"
        try:
            stat = wal.stat()
            identity: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            identity = None
        if self._wal_identity is None:
            if str(self._query("PRAGMA journal_mode")[0][0]).lower() != "wal":
                self._wal_identity = False
                return
            self._wal_identity = identity
        if identity is None or identity != self._wal_identity:
            raise StoreCorruptError(
                f"the write-ahead log {wal} was deleted or replaced while this command wrote "
                "the store: what it wrote may be lost",
                "stop every rag process using the store, run `rag doctor`, then run the "
                "command again",
            )

    def _rollback(self) -> None:
        """Roll back whatever is open; a rollback that fails too leaves the first error."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _set_manifest(self, values: dict[str, Any], drop: str = "") -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in values.items()],
            )
            self._db.execute("DELETE FROM manifest WHERE key = ?", (drop,))


def _ignore(message: str) -> None:
    pass
