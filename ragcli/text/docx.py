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
    # An XML declaration naming an encoding Python lacks ("UTF-8" with a byte flipped) or a
    # codec that is not text ("rot13") makes the parser raise LookupError.
    LookupError,
    zipfile.BadZipFile,
    zlib.error,
    ElementTree.ParseError,
    KeyError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OSError,
    lzma.LZMAError,
    RecursionError,
)
# Bounds on what a .docx may make us inflate and parse (docs/formats.md, "Limits on what one
# file may cost"): a zip bomb stops at the first bound it passes, after reading no more.
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
    """Yield paragraphs (blank-line separated) and table rows, streaming the XML.

    Whatever is done with is dropped as it ends (a run once its text is taken, a paragraph
    once written out), so neither a long document nor one huge paragraph sits whole in memory.
    """
    state = _BodyState()
    for event, element in ElementTree.iterparse(body, events=("start", "end")):
        if event == "start":
            state.opened(element)
            continue
        parent = state.closed(element)
        text = _ended_text(element, state, levels)
        if text:
            yield text
        if parent is not None and state.droppable(element):
            del parent[-1]  # an element that just ended is its parent's last child


class _BodyState:
    """Where the parse is: open elements, table depth, and text of the open paragraphs."""

    def __init__(self) -> None:
        self.open: list[ElementTree.Element] = []
        self.table_depth = 0
        self.rows = 0  # open table rows: their cells are read when the row ends
        self.keep = 0  # open runs and paragraph properties: read when their owner ends
        self.paragraphs: list[list[str]] = []  # text of each open paragraph, innermost last

    def opened(self, element: ElementTree.Element) -> None:
        tag = element.tag
        self.open.append(element)
        self.table_depth += tag == f"{_W}tbl"
        self.rows += tag == f"{_W}tr"
        self.keep += tag in (f"{_W}r", f"{_W}pPr")
        if tag == f"{_W}p":
            self.paragraphs.append([])

    def closed(self, element: ElementTree.Element) -> ElementTree.Element | None:
        """Account for an element's end; return its parent (None for the root)."""
        tag = element.tag
        self.open.pop()
        self.table_depth -= tag == f"{_W}tbl"
        self.rows -= tag == f"{_W}tr"
        self.keep -= tag in (f"{_W}r", f"{_W}pPr")
        if tag == f"{_W}r" and self.paragraphs:
            self.paragraphs[-1].append(_run_text(element))
        elif tag == f"{_W}p":
            text = "".join(self.paragraphs.pop())
            style = element.find(f"{_W}pPr/{_W}pStyle")
            element.clear()
            # What the row or the paragraph's writer needs: its text and style id.
            element.text = text
            if style is not None:
                element.set("style", style.get(f"{_W}val") or "")
        return self.open[-1] if self.open else None

    def droppable(self, element: ElementTree.Element) -> bool:
        """Whether nothing still open needs the element that just ended."""
        if self.keep or element.tag == f"{_W}pPr":
            return False  # inside a run or paragraph properties: read when those end
        if self.paragraphs:
            return element.tag != f"{_W}p"  # runs and markers in a paragraph are read
        return not self.rows


def _ended_text(element: ElementTree.Element, state: _BodyState, levels: _HeadingLevels) -> str:
    """Text for an element just parsed whole: a paragraph, a table row, or a table's end."""
    if element.tag == f"{_W}tbl" and not state.table_depth:
        return "\n"
    if element.tag == f"{_W}tr" and state.table_depth == 1:
        row = " | ".join(_cell_text(cell) for cell in element.findall(f"{_W}tc"))
        return row + "\n" if row.strip(" |") else ""
    if element.tag == f"{_W}p" and not state.table_depth:
        text = _paragraph_text(element, levels)
        return text + "\n\n" if text.strip() else ""
    return ""


def _cell_text(cell: ElementTree.Element) -> str:
    paragraphs = (p.text or "" for p in cell.iter(f"{_W}p"))
    return " ".join(" ".join(text.split()) for text in paragraphs if text.strip())


def _paragraph_text(paragraph: ElementTree.Element, levels: _HeadingLevels) -> str:
    """A finished paragraph's text, as a Markdown heading if its style is one."""
    text = paragraph.text or ""
    style = paragraph.get("style")
    level = levels.get(style) if style is not None else None
    if level and text.strip():
        return "#" * level + " " + " ".join(text.split())
    return text.strip()


def _run_text(run: ElementTree.Element) -> str:
    """Text of one run; tab stops in paragraph properties are not text."""
    parts: list[str] = []
    for node in run:
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag == f"{_W}tab":
            parts.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts)
