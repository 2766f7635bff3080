"""Turn files into Documents whose pages are read lazily, checking the file stays the same.

The formats themselves live beside this module: streams (text), delimited (CSV), html,
docx, and pdf (PDFs, and images read by OCR, ocr).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ragcli.errors import LoadError, RagError, SystemLimitError
from ragcli.records import Document, Page, SourceFile
from ragcli.text.delimited import row_pages
from ragcli.text.docx import docx_pages
from ragcli.text.html import html_pages, html_to_text
from ragcli.text.ocr import OcrOptions
from ragcli.text.pdf import image_pages, pdf_pages
from ragcli.text.streams import (
    READ_BYTES,
    ByteReader,
    decoded_text,
    require_text,
    split_into_blocks,
)

__all__ = [
    "KINDS",
    "LoadLimits",
    "html_to_text",
    "kind_of",
    "load_document",
    "read_source",
]

_CODE = (
    ".py .js .ts .tsx .jsx .java .c .h .cpp .hpp .cs .go .rs .rb .php .sh .bash .sql .swift"
    " .kt .scala .r .lua .pl .toml .yaml .yml .ini .cfg"
)
KINDS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".json": "text",
    ".jsonl": "text",
    # Markup whose headings the chunker does not know yet; read as plain text.
    ".tex": "text",
    ".org": "text",
    ".adoc": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".csv": "csv",
    ".tsv": "csv",
    # Read by OCR (a multi-page TIFF page by page); skipped with the reason when it cannot run.
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
    # "code": source and configuration files, read as plain text without heading detection.
    **{extension: "code" for extension in _CODE.split()},
}

_CHANGED = "changed while being read; ingest it again"
_VANISHED = "vanished while being read"


@dataclass(frozen=True)
class LoadLimits:
    """Bounds on the work one file may cost, and how pages without text are read.

    `ocr` None: pages without a text layer are not OCR'd (and images not read).
    """

    block_chars: int = 1_000_000
    pdf_page_timeout_s: float = 10.0
    ocr: OcrOptions | None = None


_Streamed = Callable[[ByteReader, LoadLimits], Iterator[Page]]
_Seeking = Callable[[BinaryIO, LoadLimits], Iterator[Page]]


def _text_pages(stream: ByteReader, limits: LoadLimits) -> Iterator[Page]:
    blocks = split_into_blocks(decoded_text(stream), limits.block_chars)
    return require_text(blocks, "empty file")


# Streamed kinds are read once, front to back, and hashed on the way.
_STREAMED: dict[str, _Streamed] = {
    "text": _text_pages,
    "markdown": _text_pages,
    "rst": _text_pages,
    "code": _text_pages,
    "csv": lambda stream, limits: row_pages(stream, limits.block_chars),
    "html": lambda stream, limits: html_pages(stream, limits.block_chars),
}
# Seeking kinds jump about the file; it is hashed again once they are done.
_SEEKING: dict[str, _Seeking] = {
    "pdf": lambda stream, limits: pdf_pages(stream, limits.pdf_page_timeout_s, limits.ocr),
    "image": lambda stream, limits: image_pages(stream, limits.pdf_page_timeout_s, limits.ocr),
    "docx": lambda stream, limits: docx_pages(stream, limits.block_chars),
}


def kind_of(path: Path) -> str | None:
    """Return the loader kind for a file name, or None if the format is not supported."""
    return KINDS.get(path.suffix.lower())


def read_source(path: Path) -> SourceFile:
    """Fingerprint a file (size, mtime, sha256), reading it in blocks."""
    try:
        with _open_regular(path) as stream:
            before = os.fstat(stream.fileno())
            digest = _sha256(stream)
            after = os.fstat(stream.fileno())
    except OSError as exc:
        raise _read_error(exc) from exc
    if (after.st_size, after.st_mtime) != (before.st_size, before.st_mtime):
        raise LoadError(_CHANGED)
    return SourceFile(str(path), before.st_size, before.st_mtime, digest)


def load_document(source: SourceFile, kind: str, limits: LoadLimits = LoadLimits()) -> Document:
    """Return a Document whose pages are read as they are iterated; they raise LoadError."""
    if kind not in _STREAMED and kind not in _SEEKING:
        raise ValueError(f"unknown document kind: {kind!r}")
    return Document(source, kind, _checked_pages(source, kind, limits))


def _checked_pages(source: SourceFile, kind: str, limits: LoadLimits) -> Iterator[Page]:
    """Yield a file's pages, failing if it is not, or stops being, the file source describes."""
    try:
        with _open_unchanged(source) as stream:
            if kind in _SEEKING:
                yield from _SEEKING[kind](stream, limits)
                stream.seek(0)
                digest = _sha256(stream)
            else:
                reader = _HashingReader(stream)
                yield from _STREAMED[kind](reader, limits)
                digest = reader.hexdigest_to_end()
        after = os.stat(source.path)
    except FileNotFoundError as exc:
        raise LoadError(_VANISHED) from exc
    except OSError as exc:
        raise _read_error(exc) from exc
    if not _same_stat(source, after) or digest != source.sha256:
        raise LoadError(_CHANGED)


def _open_unchanged(source: SourceFile) -> BinaryIO:
    stream = _open_regular(Path(source.path))
    try:
        if not _same_stat(source, os.fstat(stream.fileno())):
            raise LoadError(_CHANGED)
        if source.size == 0:
            raise LoadError("empty file")
    except BaseException:
        stream.close()
        raise
    return stream


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; anything else (FIFO, device, folder) is refused."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LoadError("not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _same_stat(source: SourceFile, now: os.stat_result) -> bool:
    return now.st_size == source.size and now.st_mtime == source.mtime


def _sha256(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := stream.read(READ_BYTES):
        digest.update(block)
    return digest.hexdigest()


def _read_error(exc: OSError) -> RagError:
    """A file that cannot be read is skipped, unless the process is out of descriptors:
    every later file would fail alike, and the file is not at fault (exit 11)."""
    if SystemLimitError.caused(exc):
        return SystemLimitError.open_files(exc.filename or "a file")
    return LoadError(f"cannot read: {_reason(exc)}")


def _reason(exc: OSError) -> str:
    # strerror leaves out the file name, which the caller puts in front of the message.
    return (exc.strerror or type(exc).__name__).lower()


class _HashingReader:
    """A file read front to back whose bytes are hashed as they pass."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        """Read and hash up to size bytes."""
        data = self.stream.read(size)
        self.digest.update(data)
        return data

    def hexdigest_to_end(self) -> str:
        """Hash whatever the loader left unread, and return the whole file's sha256."""
        while self.read(READ_BYTES):
            pass
        return self.digest.hexdigest()
