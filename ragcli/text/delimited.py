"""Text of CSV and TSV files: each row a self-describing line, "header: value; ...".

A row stays on the line it starts on in the file, so a cited line number finds the row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.streams import ByteReader, decoded_text, require_text, split_into_blocks

if TYPE_CHECKING:
    from _csv import Reader

_DELIMITERS = ",\t;|"
_ROWS_PER_PIECE = 1000


def row_pages(stream: ByteReader, block_chars: int) -> Iterator[Page]:
    """Yield a delimited file's rows as lines, in blocks; raises LoadError if it has none."""
    lines = split_lines(decoded_text(stream))
    return require_text(split_into_blocks(described_rows(lines), block_chars), "empty file")


def split_lines(pieces: Iterable[str]) -> Iterator[str]:
    """Regroup text pieces into lines, each keeping its final LF."""
    # The unfinished line is kept in parts: joining it to every piece is quadratic in its length.
    rest: list[str] = []
    for piece in pieces:
        lines = piece.split("\n")
        if len(lines) == 1:
            rest.append(piece)
            continue
        yield "".join([*rest, lines[0]]) + "\n"
        yield from (line + "\n" for line in lines[1:-1])
        rest = [lines[-1]]
    if "".join(rest):
        yield "".join(rest)


def described_rows(lines: Iterable[str]) -> Iterator[str]:
    """Yield text in which each data row reads "header: value; ..." on its own source line."""
    lines = iter(lines)
    first = next(lines, "")
    reader = csv.reader(_chain(first, lines), delimiter=_guess_delimiter(first))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise LoadError("empty file")
        names = [" ".join(name.split()) for name in header]
        yield "\n" * reader.line_num
        yield from _rows(reader, names)
    except csv.Error as exc:
        raise LoadError(f"not a readable CSV (line {reader.line_num}: {exc})") from exc


def _rows(reader: Reader, names: list[str]) -> Iterator[str]:
    line_num = reader.line_num
    batch: list[str] = []
    any_row = False
    for row in reader:
        text = describe_row(names, row)
        any_row = any_row or bool(text)
        # A quoted value spanning lines takes them all; blank lines keep later rows in place.
        batch.append(text + "\n" * (reader.line_num - line_num))
        line_num = reader.line_num
        if len(batch) >= _ROWS_PER_PIECE:
            yield "".join(batch)
            batch.clear()
    yield "".join(batch)
    if not any_row:
        raise LoadError("no data rows below the header")


def describe_row(names: list[str], row: list[str]) -> str:
    """Return "name: value; ..." for a row's non-empty cells; unnamed ones are "column N"."""
    pairs = []
    for index, cell in enumerate(row):
        value = " ".join(cell.split())
        if not value:
            continue
        name = names[index] if index < len(names) and names[index] else f"column {index + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)


def _guess_delimiter(first_line: str) -> str:
    # The header line's most frequent candidate; csv.Sniffer guesses wrong on short samples.
    counts = [(first_line.count(d), d) for d in _DELIMITERS]
    count, delimiter = max(counts, key=lambda pair: pair[0])
    return delimiter if count else ","


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest
