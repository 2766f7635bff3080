"""Text in bounded memory: decode bytes incrementally, normalise line ends, cut into blocks."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from typing import Protocol

from ragcli.errors import LoadError
from ragcli.records import Page

READ_BYTES = 1 << 20
_BINARY_SNIFF_BYTES = 8 * 1024
_UTF8_SNIFF_BYTES = 64 * 1024
BOMS = {codecs.BOM_UTF8: "utf-8-sig", codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


class ByteReader(Protocol):
    """Anything read front to back in pieces: an open file, or one that hashes as it reads."""

    def read(self, size: int = -1, /) -> bytes: ...


def decoded_text(stream: ByteReader) -> Iterator[str]:
    """Yield a byte stream's text in pieces, decoded, with line ends normalised to LF."""
    head = stream.read(READ_BYTES)
    decoder = choose_decoder(head)
    return normalise_newlines(_decode(head, stream, decoder))


def choose_decoder(head: bytes) -> codecs.IncrementalDecoder:
    """Pick a decoder from a file's first bytes; raises LoadError if they look binary."""
    for bom, encoding in BOMS.items():
        if head.startswith(bom):
            return codecs.getincrementaldecoder(encoding)(errors="replace")
    reject_binary(head)
    try:
        # final=False: a character cut in two at the sniff limit is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head[:_UTF8_SNIFF_BYTES], final=False)
    except UnicodeDecodeError:
        # Files that are not UTF-8 are nearly always Windows-1252 or Latin-1 in practice.
        return codecs.getincrementaldecoder("cp1252")(errors="replace")
    # A stream cannot restart, so invalid bytes past the sniffed head become U+FFFD.
    return codecs.getincrementaldecoder("utf-8-sig")(errors="replace")


def reject_binary(head: bytes) -> None:
    """Raise LoadError if a file's first bytes hold a NUL, which text never does."""
    if b"\x00" in head[:_BINARY_SNIFF_BYTES]:
        raise LoadError("looks binary (NUL bytes), not text")


def _decode(head: bytes, stream: ByteReader, decoder: codecs.IncrementalDecoder) -> Iterator[str]:
    data = head
    while data:
        yield decoder.decode(data)
        data = stream.read(READ_BYTES)
    yield decoder.decode(b"", final=True)


def normalise_newlines(pieces: Iterable[str]) -> Iterator[str]:
    """Turn CRLF and CR into LF, also when a CRLF pair is split between two pieces."""
    after_cr = False
    for raw in pieces:
        if not raw:
            continue
        text = raw[1:] if after_cr and raw[0] == "\n" else raw
        after_cr = raw[-1] == "\r"
        yield text.replace("\r\n", "\n").replace("\r", "\n")


def split_into_blocks(pieces: Iterable[str], block_chars: int) -> Iterator[Page]:
    """Regroup text pieces into pages of about block_chars characters, cut between lines."""
    pending: list[str] = []
    pending_chars = 0
    line, char = 1, 0
    for piece in pieces:
        pending.append(piece)
        pending_chars += len(piece)
        if pending_chars <= block_chars:
            continue
        text = "".join(pending)
        start = 0
        while len(text) - start > block_chars:
            cut = _cut_point(text, start, block_chars)
            yield Page(None, text[start:cut], line, char)
            line += text.count("\n", start, cut)
            char += cut - start
            start = cut
        pending, pending_chars = [text[start:]], len(text) - start
    rest = "".join(pending)
    if rest:
        yield Page(None, rest, line, char)


def _cut_point(text: str, start: int, block_chars: int) -> int:
    """End of the block at start: a blank line near the limit, else a line end, else a space."""
    end = start + block_chars
    last_blank = None
    for match in _BLANK_LINE.finditer(text, end - block_chars // 5, end):
        last_blank = match
    if last_blank is not None:
        return last_blank.end()
    newline = text.rfind("\n", start, end)
    if newline >= 0:
        return newline + 1
    # One line longer than a block: cut after its last space or tab, or anywhere at all.
    space = max(text.rfind(" ", start, end), text.rfind("\t", start, end))
    return space + 1 if space >= 0 else end


def require_text(pages: Iterable[Page], message: str) -> Iterator[Page]:
    """Pass pages through; raise LoadError(message) after the last if all were blank."""
    blank = True
    for page in pages:
        blank = blank and page.text.isspace()
        yield page
    if blank:
        raise LoadError(message)


def describe_error(exc: BaseException) -> str:
    """Return a short one-line account of a parser's exception, for a LoadError message."""
    detail = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
