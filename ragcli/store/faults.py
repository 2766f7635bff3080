"""What a failure of the store's own files means: an error with an exit code and a remedy.

SQLite reports a full disk, a read-only file or a damaged page as `sqlite3.Error`, and the
file system as `OSError`; both become one of the errors below, naming the file and what to
do, so no fault of the disk or the store reaches the user as an internal error.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import NoReturn

from ragcli.errors import (
    RagError,
    StoreCorruptError,
    StoreLockedError,
    StoreWriteError,
    SystemLimitError,
)
from ragcli.files import NotRegularFileError

DOCTOR_HINT = (
    "run `rag doctor` (with the same --store) to check and repair it; if damage "
    "remains, restore the store from a backup or delete it and ingest again"
)
_FULL = "free some space and run the command again; the store keeps what was last committed"
_WRITABLE = (
    "make the store directory and its files writable (permissions, a read-only "
    "mount, `chattr -i`) or pass another --store"
)
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DENIED_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


# Errors of ragcli's own statements (a bug), not of the store's files: left as they are.
_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def raise_database_error(exc: sqlite3.Error, database: Path, doing: str = "read") -> NoReturn:
    """Raise the translation of an SQLite error on the store's database (bugs unchanged)."""
    if isinstance(exc, _BUGS):
        raise exc
    raise database_error(exc, database, doing) from exc


def database_error(exc: sqlite3.Error, database: Path, doing: str = "read") -> RagError:
    """Translate an SQLite error met while doing ("open", "read", "write") the database."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    text = str(exc)
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR) and out_of_descriptors():
        # SQLite says only "unable to open": the process is out of file descriptors.
        return too_many_open_files(database)
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return StoreWriteError(f"cannot write {database}: the disk is full", _FULL)
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM) or "readonly" in text:
        return StoreWriteError(f"cannot write {database}: {text}", _WRITABLE)
    if primary == sqlite3.SQLITE_CANTOPEN or "unable to open" in text:
        return StoreWriteError(f"cannot open {database}: {text}", _WRITABLE)
    if primary == sqlite3.SQLITE_BUSY or "database is locked" in text:
        return StoreLockedError(
            f"store database {database} stayed locked by another process",
            "try again when it finishes",
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StoreCorruptError(
            f"cannot {doing} store database {database}: {text}",
            f"check the disk, then {DOCTOR_HINT}",
        )
    return StoreCorruptError(f"cannot {doing} store database {database}: {text}", DOCTOR_HINT)


def file_error(exc: OSError, path: Path) -> RagError:
    """Translate an OSError while writing one of the store's files (index, lock, folder)."""
    reason = exc.strerror or str(exc)
    if SystemLimitError.caused(exc):
        return too_many_open_files(path)
    if exc.errno in _FULL_ERRNOS:
        return StoreWriteError(f"cannot write {path}: the disk is full", _FULL)
    if exc.errno in _DENIED_ERRNOS:
        return StoreWriteError(f"cannot write {path}: {reason}", _WRITABLE)
    if isinstance(exc, NotRegularFileError) or exc.errno in (errno.EISDIR, errno.ENOTDIR):
        return StoreWriteError(
            f"cannot use {path}: something else is in its place ({reason})",
            f"remove {path}; ragcli makes it again",
        )
    return StoreWriteError(f"cannot write {path}: {reason}", _WRITABLE)


def too_many_open_files(path: Path) -> SystemLimitError:
    """The error for a file of the store that could not be opened for want of descriptors."""
    return SystemLimitError.open_files(path, "; the store keeps what was last committed")


def out_of_descriptors() -> bool:
    """Whether this process can open no more files (probed by duplicating stderr)."""
    try:
        os.close(os.dup(2))
    except OSError as exc:
        return SystemLimitError.caused(exc)
    return False
