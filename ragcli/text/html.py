"""Visible text of HTML pages: boilerplate dropped, headings as Markdown, source lines kept."""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.streams import (
    BOMS,
    ByteReader,
    choose_decoder,
    describe_error,
    reject_binary,
    split_into_blocks,
)

MAX_HTML_BYTES = 50 * 1024 * 1024
_CHARSET_SNIFF_BYTES = 8 * 1024
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
# The HTML standard decodes these labels as windows-1252, and so do browsers.
_WINDOWS_1252_ALIASES = {"iso8859-1", "ascii", "cp1252", "latin-1"}

_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "br",
    "blockquote",
    "pre",
    "dt",
    "dd",
    "figcaption",
    "title",
    "main",
    "aside",
    "nav",
    "form",
    "hr",
}
_DROPPED_TAGS = {
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "aside",
    "form",
    "button",
}
_DROPPED_ROLES = {"navigation", "banner", "contentinfo"}
# A header or footer inside these belongs to the content, not to the site's frame.
_SECTIONING_TAGS = {"article", "main", "section"}
_VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
# These close an open element of the same name instead of nesting inside it.
_SELF_CLOSING_TAGS = {"p", "li", "dt", "dd", "tr", "td", "th", "option"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def html_pages(stream: ByteReader, block_chars: int) -> Iterator[Page]:
    """Yield the visible text of an HTML file in blocks; raises LoadError when there is none."""
    data = stream.read(MAX_HTML_BYTES + 1)
    if len(data) > MAX_HTML_BYTES:
        raise LoadError("HTML file too large")
    html = decode_html(data)
    if not html.strip():
        raise LoadError("empty file")
    try:
        text = html_to_text(html)
    except AssertionError as exc:  # html.parser's way of giving up on some malformed markup
        raise LoadError(f"not readable HTML ({describe_error(exc)})") from exc
    if not text.strip():
        raise LoadError("no visible text")
    yield from split_into_blocks([text], block_chars)


def decode_html(data: bytes) -> str:
    """Decode HTML bytes by BOM, then <meta charset>, then UTF-8, then Windows-1252."""
    has_bom = data.startswith(tuple(BOMS))
    encoding = None if has_bom else _declared_encoding(data[:_CHARSET_SNIFF_BYTES])
    text = None
    if encoding is not None:
        reject_binary(data)
        # A codec such as idna or punycode refuses "replace" or fails outright.
        with contextlib.suppress(UnicodeError):
            text = data.decode(encoding, errors="replace")
    if text is None:
        text = choose_decoder(data).decode(data, final=True)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _declared_encoding(head: bytes) -> str | None:
    match = _META_CHARSET.search(head)
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
        b"a".decode(name, errors="replace")  # rejects codecs that are not text encodings
    except (LookupError, UnicodeError):
        return None
    if name in _WINDOWS_1252_ALIASES:
        return "cp1252"
    # A page read as bytes this far is ASCII-compatible, whatever a UTF-16 label says.
    return "utf-8" if name.startswith("utf-16") else name


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML page, scripts, styles and page furniture dropped."""
    last_close = html.rfind(">")
    if html.find("<", last_close + 1) >= 0:
        # No tag can end past the last ">", and html.parser would scan from each "<" there
        # to the end of the page (quadratic): they are text, as the parser would make them.
        html = html[: last_close + 1] + html[last_close + 1 :].replace("<", "&lt;")
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return extractor.text()


class _TextExtractor(HTMLParser):
    """Keeps visible text on the source lines it came from; headings become Markdown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.line = 1
        self.dropped_tag: str | None = None
        self.dropped_depth = 0
        self.sectioning_depth = 0
        self.in_title = False
        self.title_at: int | None = None
        self.has_h1 = False

    def text(self) -> str:
        """Return the text so far; the title is the top heading when the page has no <h1>."""
        parts = list(self.parts)
        if self.title_at is not None and not self.has_h1:
            parts.insert(self.title_at, "# ")
        return "".join(parts)

    def _newline(self) -> None:
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")
            self.line += 1

    def _pad_to(self, line: int) -> None:
        # Blank lines keep the text's line numbers on the HTML file's own lines.
        if line > self.line:
            self.parts.append("\n" * (line - self.line))
            self.line = line

    def _is_dropped(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _VOID_TAGS:
            return False
        if tag in _DROPPED_TAGS:
            return True
        if tag in ("header", "footer") and not self.sectioning_depth:
            return True
        found = {name: (value or "").strip().lower() for name, value in attrs}
        style = found.get("style", "").replace(" ", "")
        return (
            "hidden" in found
            or found.get("aria-hidden") == "true"
            or not _DROPPED_ROLES.isdisjoint(found.get("role", "").split())
            or "display:none" in style
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropped_tag is not None:
            if tag != self.dropped_tag:
                return
            if tag not in _SELF_CLOSING_TAGS:
                self.dropped_depth += 1
                return
            self.dropped_tag = None
        if self._is_dropped(tag, attrs):
            self.dropped_tag, self.dropped_depth = tag, 1
            if tag in _BLOCK_TAGS:
                self._newline()
            return
        self._open(tag)

    def _open(self, tag: str) -> None:
        if tag in _SECTIONING_TAGS:
            self.sectioning_depth += 1
        if tag in _HEADINGS:
            self.has_h1 = self.has_h1 or tag == "h1"
            self._newline()
            self._pad_to(self.getpos()[0])
            self.parts.append("#" * _HEADINGS[tag] + " ")
        elif tag in _BLOCK_TAGS:
            self._newline()
        elif tag in ("td", "th") and self.parts and not self.parts[-1].endswith("\n"):
            self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append(" | ")
        if tag == "title":
            self.in_title = True

    def handle_endtag(self, tag: str) -> None:
        if self.dropped_tag is not None:
            if tag == self.dropped_tag:
                self.dropped_depth -= 1
            # An element left open is dropped up to the end of the page, no further.
            if not self.dropped_depth or tag in ("body", "html"):
                self.dropped_tag = None
                if tag in _BLOCK_TAGS:
                    self._newline()
            return
        if tag in _SECTIONING_TAGS:
            self.sectioning_depth = max(0, self.sectioning_depth - 1)
        if tag == "title":
            self.in_title = False
        if tag in _HEADINGS or tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.dropped_tag is not None:
            return
        at_line_start = not self.parts or self.parts[-1].endswith("\n")
        if not data.strip():
            # Whitespace between inline tags still separates the words on either side.
            if not at_line_start and not self.parts[-1][-1:].isspace():
                self.parts.append(" ")
            return
        if at_line_start:
            self._pad_to(self.getpos()[0])
        if self.in_title and self.title_at is None:
            self.title_at = len(self.parts)
        lines = [" ".join(line.split()) for line in data.strip("\n").split("\n")]
        text = "\n".join(lines)
        if data[0].isspace() and not at_line_start and not self.parts[-1][-1:].isspace():
            text = " " + text
        if data[-1].isspace():
            text += " "
        self.parts.append(text)
        self.line += len(lines) - 1
