"""Files ragcli owns (a store's, its caches): opened only as regular files, written atomically.

Whatever the umask, what ragcli creates is writable by its owner alone (files 0o644, folders
0o755 at most, as ssh and git do): the store and the caches are read back as trusted input.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

# The most a created file or folder allows; a stricter umask takes more away.
FILE_MODE = 0o644
FOLDER_MODE = 0o755


class NotRegularFileError(OSError):
    """A path ragcli owns holds something other than a regular file (a FIFO, a device)."""


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = FILE_MODE) -> int:
    """Open a regular file (following links) and return its descriptor; never block.

    A FIFO, a device or a socket is refused with NotRegularFileError (an OSError) before
    anything is read from it: opening a FIFO would wait for a writer, and a link to
    /dev/zero would never end.
    """
    descriptor = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def open_regular_binary(path: Path) -> BinaryIO:
    """Open a regular file for reading as a binary stream (see open_regular)."""
    return os.fdopen(open_regular(path), "rb")


def check_regular(path: Path) -> None:
    """Fail with NotRegularFileError if path exists and is not a regular file (links followed)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(errno.EINVAL, "not a regular file", str(path))


def make_folders(folder: Path) -> None:
    """Make a folder and its missing parents, each at most FOLDER_MODE (unlike `mkdir -p`)."""
    missing: list[Path] = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, FOLDER_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise


def make_empty_file(path: Path) -> None:
    """Create an empty file at most FILE_MODE (a leftover is replaced: it would keep its mode)
    for a writer that opens it by name, such as a library that cannot be given a mode."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a torn one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.unlink(missing_ok=True)  # a leftover keeps its mode: made anew instead
    try:
        descriptor = os.open(
            partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
        )
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
