"""Read the list of paths `--files-from` gives: one a line or NUL-separated, held in blocks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ragcli.discovery.skip_reasons import failure_reason
from ragcli.errors import InputNotFoundError, UsageError

READ_BLOCK_BYTES = 1 << 16
DEFAULT_PATH_MAX = 4096
# Far beyond any real list (a million paths is a big one), low enough that a stream of
# empty records (`-0` on /dev/zero) ends within seconds.
MAX_PATH_RECORDS = 10_000_000


def read_path_list(stream: IO[bytes], nul_separated: bool) -> list[Path]:
    """Read paths one per line (or NUL-separated), keeping any byte name intact.

    The stream is read in blocks and never held whole; each path must exist (a link may
    be broken), so a stream that is not a list of names fails at its first record.
    """
    paths = []
    for number, name in iter_path_records(stream, nul_separated, path_max()):
        try:
            os.lstat(name)
        except OSError as exc:
            raise InputNotFoundError(
                f"--files-from record {number}: {failure_reason(exc)}: {_printable(name)}"
            ) from exc
        paths.append(Path(os.fsdecode(name)))
    return paths


def iter_path_records(
    stream: IO[bytes], nul_separated: bool, limit: int
) -> Iterator[tuple[int, bytes]]:
    """Yield (record number, name) for each non-empty record; overlong ones are an error."""
    separator = b"\0" if nul_separated else b"\n"
    pending = b""
    number = 0
    while block := stream.read(READ_BLOCK_BYTES):
        records = (pending + block).split(separator)
        pending = records.pop()
        for record in records:
            number += 1
            if name := _checked_record(record, number, nul_separated, limit):
                yield number, name
        if len(pending) > limit:
            _checked_record(pending, number + 1, nul_separated, limit)
    if pending and (name := _checked_record(pending, number + 1, nul_separated, limit)):
        yield number + 1, name


def _checked_record(record: bytes, number: int, nul_separated: bool, limit: int) -> bytes:
    """Return a record as a name (a line loses its CR); raise UsageError if none can be."""
    if number > MAX_PATH_RECORDS:
        raise UsageError(f"--files-from holds more than {MAX_PATH_RECORDS:,} records")
    if len(record) > limit:
        raise UsageError(
            f"--files-from record {number} is longer than PATH_MAX ({limit} bytes)",
            "is it a list of file names? use -0 for NUL-separated names",
        )
    if nul_separated:
        return record
    if b"\0" in record:
        raise UsageError(
            f"--files-from record {number} holds a NUL byte, which no file name can",
            "use -0 for NUL-separated names",
        )
    return record.removesuffix(b"\r")


def _printable(name: bytes, limit: int = 120) -> str:
    """A name from a list, made safe for a one-line message: escaped, cut if long."""
    text = name[:limit].decode("utf-8", "backslashreplace")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return shown + ("..." if len(name) > limit else "")


def path_max() -> int:
    """The longest path the system accepts, in bytes (4096 when it does not say)."""
    try:
        limit = os.pathconf("/", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_PATH_MAX
    return limit if limit > 0 else DEFAULT_PATH_MAX
