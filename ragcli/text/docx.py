"""Text of Word (.docx) files: paragraphs, headings as Markdown, table rows as lines."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
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
    NotImplementedError, RuntimeError,
)


def docx_pages(stream: BinaryIO, block_chars: int) -> Iterator[Page]:
    """Yield a Word document's text in blocks; raises LoadError if it is damaged or empty."""
    try:
        with zipfile.ZipFile(stream) as archive:
            levels = _heading_levels(archive)
            with archive.open("word/document.xml") as body:
                blocks = split_into_blocks(_body_text(body, levels), block_chars)
                yield from require_text(blocks, "no text in the document")
    except _UNREADABLE as exc:
        raise LoadError(f"not a readable DOCX ({describe_error(exc)})") from exc


def _heading_levels(archive: zipfile.ZipFile) -> dict[str, int]:
    """Map paragraph style ids to heading levels, by the styles' names where they exist."""
    levels = dict(_DEFAULT_LEVELS)
    if "word/styles.xml" not in archive.namelist():
        return levels
    with archive.open("word/styles.xml") as styles:
        root = ElementTree.parse(styles).getroot()
    for style in root.iter(f"{_W}style"):
        style_id = style.get(f"{_W}styleId")
        name_element = style.find(f"{_W}name")
        name = (name_element.get(f"{_W}val") or "") if name_element is not None else ""
        heading = _HEADING_NAME.fullmatch(name.lower())
        if style_id and heading:
            levels[style_id] = min(int(heading.group(1)) + 1, 6)
        elif style_id and name.lower() == "title":
            levels[style_id] = 1
    return levels


def _body_text(body: IO[bytes], levels: dict[str, int]) -> Iterator[str]:
    """Yield paragraphs (blank-line separated) and table rows, streaming the XML."""
    body_element: ElementTree.Element | None = None
    table_depth = 0
    for event, element in ElementTree.iterparse(body, events=("start", "end")):
        tag = element.tag
        if event == "start":
            body_element = element if tag == f"{_W}body" else body_element
            table_depth += tag == f"{_W}tbl"
            continue
        table_depth -= tag == f"{_W}tbl"
        text = _ended_text(element, table_depth, levels)
        if text:
            yield text
        # Dropping what is done with keeps a long document from sitting whole in memory.
        if tag == f"{_W}tr" and table_depth == 1:
            element.clear()
        elif tag in (f"{_W}p", f"{_W}tbl") and not table_depth and body_element is not None:
            body_element.clear()


def _ended_text(element: ElementTree.Element, table_depth: int, levels: dict[str, int]) -> str:
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


def _paragraph_text(paragraph: ElementTree.Element, levels: dict[str, int]) -> str:
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
