"""Text of Word (.docx) files: paragraphs, headings as Markdown, table rows as lines."""

from __future__ import annotations

import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, BinaryIO
from xml.etree import ElementTree

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.streams import describe_error, require_text, split_into_blocks

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Title outranks Heading 1, so a section's heading path starts with the document's title.
_DEFAULT_LEVELS = {"Title": 1, **{f"Heading{n}": min(n + 1, 6) for n in range(1, 7)}}
_HEADING_NAME = re.compile(r"heading ([1-6])")
_UNREADABLE = (
    zipfile.BadZipFile, zlib.error, ElementTree.ParseError, KeyError, EOFError, ValueError,
    NotImplementedError, RuntimeError, OSError, lzma.LZMAError, RecursionError,
)
# Bounds on what a .docx may make us inflate and parse (README, "Limits"): a zip bomb stops
# at the first bound it passes, after reading no more than that.
MAX_DOCUMENT_XML_BYTES = 64 << 20
MAX_STYLES_XML_BYTES = 16 << 20
MAX_COMPRESSION_RATIO = 200
_RATIO_CHECKED_PAST_BYTES = 1 << 20
_BODY = "word/document.xml"
_STYLES = "word/styles.xml"


def docx_pages(stream: BinaryIO, block_chars: int) -> Iterator[Page]:
    """Yield a Word document's text in blocks; raises LoadError if it is damaged or empty."""
    try:
        with zipfile.ZipFile(stream) as archive:
            levels = _HeadingLevels(archive)
            with _bounded_member(archive, _BODY, MAX_DOCUMENT_XML_BYTES) as body:
                blocks = split_into_blocks(_body_text(body, levels), block_chars)
                yield from require_text(blocks, "no text in the document")
    except _UNREADABLE as exc:
        raise LoadError(f"not a readable DOCX ({describe_error(exc)})") from exc


class _BoundedMember:
    """A zip member read as a stream that refuses to inflate past its bounds."""

    def __init__(self, raw: IO[bytes], info: zipfile.ZipInfo, limit: int) -> None:
        self.raw, self.info, self.limit = raw, info, limit
        self.inflated = 0

    def read(self, size: int = -1, /) -> bytes:
        """Read up to size bytes; LoadError once the member is too large or too compressed."""
        data = self.raw.read(size if 0 <= size <= 1 << 20 else 1 << 20)
        self.inflated += len(data)
        if self.inflated > self.limit:
            raise LoadError(f"{self.info.filename} expands past {self.limit >> 20} MB")
        ratio = self.inflated / max(self.info.compress_size, 1)
        if self.inflated > _RATIO_CHECKED_PAST_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise LoadError(
                f"{self.info.filename} is compressed more than {MAX_COMPRESSION_RATIO}:1"
                " (a zip bomb?)"
            )
        return data


@contextmanager
def _bounded_member(archive: zipfile.ZipFile, name: str, limit: int) -> Iterator[_BoundedMember]:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise LoadError(f"{name} expands past {limit >> 20} MB")
    with archive.open(info) as raw:
        yield _BoundedMember(raw, info, limit)


class _HeadingLevels:
    """Paragraph style ids to heading levels; styles.xml is read only for unknown ids."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.levels = dict(_DEFAULT_LEVELS)
        self.styles_read = False

    def get(self, style_id: str) -> int | None:
        if style_id not in self.levels and not self.styles_read:
            self.styles_read = True
            if _STYLES in self.archive.namelist():
                self.levels = {**self.levels, **self._styled_levels()}
        return self.levels.get(style_id)

    def _styled_levels(self) -> dict[str, int]:
        """Map style ids to levels by the styles' names ("heading 2", "title")."""
        levels: dict[str, int] = {}
        with _bounded_member(self.archive, _STYLES, MAX_STYLES_XML_BYTES) as styles:
            for _, element in ElementTree.iterparse(styles, events=("end",)):
                if element.tag != f"{_W}style":
                    continue
                style_id = element.get(f"{_W}styleId")
                name_element = element.find(f"{_W}name")
                name = (name_element.get(f"{_W}val") or "") if name_element is not None else ""
                heading = _HEADING_NAME.fullmatch(name.lower())
                if style_id and heading:
                    levels[style_id] = min(int(heading.group(1)) + 1, 6)
                elif style_id and name.lower() == "title":
                    levels[style_id] = 1
                element.clear()
        return levels


def _body_text(body: _BoundedMember, levels: _HeadingLevels) -> Iterator[str]:
    """Yield paragraphs (blank-line separated) and table rows, streaming the XML."""
    open_elements: list[ElementTree.Element] = []
    table_depth = 0
    collecting = 0  # open paragraphs and rows: their parts are needed until they end
    for event, element in ElementTree.iterparse(body, events=("start", "end")):
        tag = element.tag
        if event == "start":
            open_elements.append(element)
            table_depth += tag == f"{_W}tbl"
            collecting += tag in (f"{_W}p", f"{_W}tr")
            continue
        open_elements.pop()
        table_depth -= tag == f"{_W}tbl"
        collecting -= tag in (f"{_W}p", f"{_W}tr")
        text = _ended_text(element, table_depth, levels)
        if text:
            yield text
        # Whatever is done with is dropped, so a long document never sits whole in memory.
        if not collecting and open_elements:
            open_elements[-1].remove(element)


def _ended_text(element: ElementTree.Element, table_depth: int, levels: _HeadingLevels) -> str:
    """Text for an element just parsed whole: a paragraph, a table row, or a table's end."""
    if element.tag == f"{_W}tbl" and not table_depth:
        return "\n"
    if element.tag == f"{_W}tr" and table_depth == 1:
        row = " | ".join(_cell_text(cell) for cell in element.findall(f"{_W}tc"))
        return row + "\n" if row.strip(" |") else ""
    if element.tag == f"{_W}p" and not table_depth:
        text = _paragraph_text(element, levels)
        return text + "\n\n" if text.strip() else ""
    return ""


def _cell_text(cell: ElementTree.Element) -> str:
    paragraphs = (_run_text(p) for p in cell.iter(f"{_W}p"))
    return " ".join(" ".join(text.split()) for text in paragraphs if text.strip())


def _paragraph_text(paragraph: ElementTree.Element, levels: _HeadingLevels) -> str:
    text = _run_text(paragraph)
    style = paragraph.find(f"{_W}pPr/{_W}pStyle")
    level = levels.get(style.get(f"{_W}val") or "") if style is not None else None
    if level and text.strip():
        return "#" * level + " " + " ".join(text.split())
    return text.strip()


def _run_text(paragraph: ElementTree.Element) -> str:
    """Text of a paragraph's runs; tab stops in its properties are not text."""
    parts: list[str] = []
    for run in paragraph.iter(f"{_W}r"):
        for node in run:
            if node.tag == f"{_W}t":
                parts.append(node.text or "")
            elif node.tag == f"{_W}tab":
                parts.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
    return "".join(parts)
