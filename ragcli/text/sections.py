"""Cut a page at its headings (Markdown, reStructuredText) into sections with their heading path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The title's trailing " #" run is stripped in Python: a lazy group before it is quadratic.
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+)$")
_MD_FENCE = re.compile(r"^(```|~~~)")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+_.:])\1{2,}[ \t]*$")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n(?=[ \t]*(?:[-*+]|\d+[.)])\s)")


@dataclass(frozen=True)
class Section:
    """A stretch of a page under one heading path: [start, end) in the page's text."""

    heading: str
    start: int
    end: int
    # Where a unit may end: after a sentence, or (for CSV rows) at every line end.
    unit_end: re.Pattern[str] = SENTENCE_END


@dataclass
class Outline:
    """Heading path so far; carried from one block of a file to the next."""

    path: list[tuple[int, str]] = field(default_factory=list)
    rst_styles: list[str] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return " > ".join(title for _, title in self.path)


def sections_of(text: str, kind: str, outline: Outline) -> list[Section]:
    """Cut a page at its headings; each section carries its heading path."""
    headings = _markdown_headings(text) if kind in ("markdown", "html", "docx") else []
    if kind == "rst":
        headings = _rst_headings(text, outline.rst_styles)
    sections: list[Section] = []
    position = 0
    for level, title, line_start, body_start in headings:
        sections.append(Section(outline.heading, position, line_start))
        outline.path = [(lv, t) for lv, t in outline.path if lv < level] + [(level, title)]
        position = body_start
    sections.append(Section(outline.heading, position, len(text)))
    return [s for s in sections if text[s.start : s.end].strip()]


def _markdown_headings(text: str) -> list[tuple[int, str, int, int]]:
    """Find ATX headings outside code fences: (level, title, line start, body start)."""
    found = []
    fenced = False
    for match in re.finditer(r"^.*$", text, flags=re.MULTILINE):
        line = match.group()
        if _MD_FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _MD_HEADING.match(line)
        if heading:
            title = heading.group(2).rstrip(" \t#") or heading.group(2)[:1]
            found.append((len(heading.group(1)), title, match.start(), match.end()))
    return found


def _rst_headings(text: str, levels: list[str]) -> list[tuple[int, str, int, int]]:
    """Find title lines underlined (and maybe overlined) by punctuation; levels by first use."""
    lines = list(re.finditer(r"^.*$", text, flags=re.MULTILINE))
    found = []
    for above, line, below in zip([None, *lines[:-1]], lines, [*lines[1:], None], strict=True):
        title = line.group().strip()
        under = below.group() if below else ""
        if not title or _RST_UNDERLINE.match(line.group()) or not _RST_UNDERLINE.match(under):
            continue
        if len(under.rstrip()) < len(title):
            continue
        overlined = above is not None and above.group().strip() == under.strip()
        style = ("over" if overlined else "") + under[0]
        if style not in levels:
            levels.append(style)
        start = above.start() if overlined and above is not None else line.start()
        found.append((levels.index(style) + 1, title, start, below.end() if below else line.end()))
    return found
