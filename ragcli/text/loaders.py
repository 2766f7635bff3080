"""Turn files into Documents: plain text, Markdown, reStructuredText, HTML and PDF."""

from __future__ import annotations

import hashlib
from html.parser import HTMLParser
from pathlib import Path

from ragcli.errors import LoadError
from ragcli.records import Document, Page, SourceFile

KINDS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


def kind_of(path: Path) -> str | None:
    """Return the loader kind for a file name, or None if the format is not supported."""
    return KINDS.get(path.suffix.lower())


def read_source(path: Path) -> tuple[SourceFile, bytes]:
    """Read a file's bytes and fingerprint them (size, mtime, sha256)."""
    try:
        stat = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc
    source = SourceFile(str(path), len(data), stat.st_mtime, hashlib.sha256(data).hexdigest())
    return source, data


def load_document(source: SourceFile, data: bytes, kind: str) -> Document:
    """Extract a file's text page by page; raises LoadError when it cannot."""
    if kind == "pdf":
        pages = _pdf_pages(data)
    elif kind == "html":
        pages = (Page(None, html_to_text(_decode(data))),)
    else:
        pages = (Page(None, _decode(data)),)
    return Document(source, kind, pages)


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise LoadError("looks binary (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Files that are not UTF-8 are nearly always Windows-1252 or Latin-1 in practice.
        text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pdf_pages(data: bytes) -> tuple[Page, ...]:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF that needs a password")
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            pages.append(Page(number, page.extract_text() or ""))
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    return tuple(pages)


_BLOCK_TAGS = {
    "p", "div", "section", "article", "header", "footer", "li", "ul", "ol", "table", "tr",
    "br", "blockquote", "pre", "dt", "dd", "figcaption", "title", "main", "aside", "nav",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class _TextExtractor(HTMLParser):
    """Keeps visible text on the source lines it came from; headings become Markdown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.line = 1
        self.skip_depth = 0

    def _newline(self) -> None:
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")
            self.line += 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag in _HEADINGS:
            self._newline()
            self._pad_to(self.getpos()[0])
            self.parts.append("#" * _HEADINGS[tag] + " ")
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _HEADINGS or tag in _BLOCK_TAGS:
            self._newline()

    def _pad_to(self, line: int) -> None:
        # Blank lines keep the text's line numbers on the HTML file's own lines.
        if line > self.line:
            self.parts.append("\n" * (line - self.line))
            self.line = line

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        at_line_start = not self.parts or self.parts[-1].endswith("\n")
        if not data.strip():
            # Whitespace between inline tags still separates the words on either side.
            if not at_line_start and not self.parts[-1][-1:].isspace():
                self.parts.append(" ")
            return
        if at_line_start:
            self._pad_to(self.getpos()[0])
        lines = [" ".join(line.split()) for line in data.strip("\n").split("\n")]
        text = "\n".join(lines)
        if data[0].isspace() and not at_line_start and not self.parts[-1][-1:].isspace():
            text = " " + text
        if data[-1].isspace():
            text += " "
        self.parts.append(text)
        self.line += len(lines) - 1


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML page, scripts and styles dropped."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return "".join(extractor.parts)
