"""Connecting to a store's SQLite file, and the checks of its files made before that."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from ragcli.errors import StoreCorruptError
from ragcli.files import NotRegularFileError, check_regular, open_regular
from ragcli.store.faults import raise_database_error


def wal_deleted_under_a_reader(database: Path) -> bool:
    """Whether the write-ahead log is gone while another process still has the store open.

    SQLite removes both the -wal and the -shm file when the last connection closes; a
    -shm without its -wal means the log was deleted. Another process's hold is seen as
    its lock on the -shm file's "dead man switch" byte (128), which SQLite keeps while
    a connection is open. (Probed only in that state, when no connection of this
    process can have the file open: closing the probe drops this process's locks on it.)
    """
    if database.with_name(f"{database.name}-wal").exists():
        return False
    return shm_in_use(database)


def _on_read_only_media(database: Path) -> bool:
    """Whether the database sits on a read-only file system with no log beside it."""
    try:
        read_only = bool(os.statvfs(database.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False
    return read_only and not database.with_name(f"{database.name}-wal").exists()


def connect(database: Path, existed: bool, writable: bool) -> sqlite3.Connection:
    """Connect to the database: read-only unless asked for writing, in WAL mode either way."""
    try:
        if writable:
            # A writer holds its transaction briefly; readers and a second writer wait.
            connection = sqlite3.connect(database, isolation_level=None, timeout=60)
            connection.execute("PRAGMA journal_mode=WAL")
        else:
            # Read-only: SQLite still makes the -shm and -wal a WAL reader needs, when the
            # store's last writer has exited and taken them away.
            uri = f"{database.resolve().as_uri()}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=60)
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        if not (existed and _on_read_only_media(database)):
            raise_database_error(exc, database, "open")
        # WAL needs a writable -shm beside the file; on read-only media nothing can
        # change the store, so it is read as immutable (writes fail with exit 10).
        connection = sqlite3.connect(
            f"{database.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None
        )
    return connection


def check_own_files(database: Path) -> None:
    """Refuse a database, log or shared-memory file that is a FIFO, a device or a socket.

    SQLite would open it and wait forever for a FIFO's writer, or read /dev/zero forever.
    """
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        if path.is_dir():
            continue  # SQLite cannot open it, and says so (exit 10: something in the way)
        try:
            check_regular(path)
        except NotRegularFileError:
            raise StoreCorruptError(
                f"{path} is not a regular file",
                f"remove it; if it is {database.name}, restore the store from a backup or "
                "ingest again",
            ) from None


def shm_in_use(database: Path) -> bool:
    """Whether another process has the database open (see wal_deleted_under_a_reader)."""
    try:
        descriptor = open_regular(database.with_name(f"{database.name}-shm"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
    except OSError:
        return True
    finally:
        os.close(descriptor)
    return False
