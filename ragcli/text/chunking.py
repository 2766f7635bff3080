"""Split documents into chunks that follow sections, paragraphs and sentences.

No chunk is longer, in the embedder's own word pieces, than the embedder can read: text past
that limit would be invisible to search.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from ragcli.records import Chunk, ChunkingSettings, Document, Page

CountTokens = Callable[[Sequence[str]], list[int]]

_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_MD_FENCE = re.compile(r"^(```|~~~)")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+_.:])\1{2,}[ \t]*$")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LINE_END = re.compile(r"\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n(?=[ \t]*(?:[-*+]|\d+[.)])\s)")


@dataclass(frozen=True)
class ChunkBudget:
    """How many word pieces a chunk may hold and how they are counted."""

    settings: ChunkingSettings
    max_text_tokens: int
    count_tokens: CountTokens


@dataclass(frozen=True)
class _Section:
    heading: str
    start: int
    end: int
    # Where a unit may end: after a sentence, or (for CSV rows) at every line end.
    unit_end: re.Pattern[str] = _SENTENCE_END


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    tokens: int
    opens_paragraph: bool


@dataclass
class _Outline:
    """Heading path so far; carried from one block of a file to the next."""

    path: list[tuple[int, str]] = field(default_factory=list)
    rst_styles: list[str] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return " > ".join(title for _, title in self.path)


def split_into_chunks(document: Document, budget: ChunkBudget) -> list[Chunk]:
    """Split every page of a document into chunks."""
    return list(iter_chunks(document, budget))


def iter_chunks(document: Document, budget: ChunkBudget) -> Iterator[Chunk]:
    """Yield a document's chunks page by page, reading its pages only once."""
    outline = _Outline()
    for page in document.pages:
        line_starts = [0] + [m.end() for m in re.finditer("\n", page.text)]
        for found in _sections(page.text, document.kind, outline):
            section = replace(found, heading=_fit_heading(found.heading, budget))
            if document.kind == "csv":
                section = replace(section, unit_end=_LINE_END)
            for start, end in _pack_section(page.text, section, budget):
                yield _make_chunk(document, page, section.heading, start, end, line_starts)


def _make_chunk(
    document: Document, page: Page, heading: str, start: int, end: int, line_starts: list[int]
) -> Chunk:
    line_offset = page.first_line - 1
    return Chunk(
        text=page.text[start:end],
        path=document.source.path,
        page=page.number,
        start_line=line_offset + bisect.bisect_right(line_starts, start),
        end_line=line_offset + bisect.bisect_right(line_starts, end - 1),
        start_char=page.first_char + start,
        end_char=page.first_char + end,
        heading=heading,
    )


def _fit_heading(heading: str, budget: ChunkBudget) -> str:
    """Shorten a heading path from the front to at most a quarter of the token limit."""
    room = budget.max_text_tokens // 4
    words = heading.split(" ")
    while words and budget.count_tokens([" ".join(words)])[0] > room:
        words = words[1:]
    return " ".join(words)


def _sections(text: str, kind: str, outline: _Outline) -> list[_Section]:
    """Cut a page at its headings; each section carries its heading path."""
    headings = _markdown_headings(text) if kind in ("markdown", "html", "docx") else []
    if kind == "rst":
        headings = _rst_headings(text, outline.rst_styles)
    sections: list[_Section] = []
    position = 0
    for level, title, line_start, body_start in headings:
        sections.append(_Section(outline.heading, position, line_start))
        outline.path = [(lv, t) for lv, t in outline.path if lv < level] + [(level, title)]
        position = body_start
    sections.append(_Section(outline.heading, position, len(text)))
    return [s for s in sections if text[s.start : s.end].strip()]


def _markdown_headings(text: str) -> list[tuple[int, str, int, int]]:
    found = []
    fenced = False
    for match in re.finditer(r"^.*$", text, flags=re.MULTILINE):
        line = match.group()
        if _MD_FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _MD_HEADING.match(line)
        if heading:
            found.append((len(heading.group(1)), heading.group(2), match.start(), match.end()))
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


def _pieces(text: str, section: _Section, budget: ChunkBudget, limit: int) -> list[_Piece]:
    """Sentences of a section (split further where one alone is over the limit)."""
    spans: list[tuple[int, int, bool]] = []
    for paragraph in _spans(text, section.start, section.end, _PARAGRAPH_BREAK):
        sentences = _spans(text, paragraph[0], paragraph[1], section.unit_end)
        spans.extend((s, e, n == 0) for n, (s, e) in enumerate(sentences))
    counts = budget.count_tokens([text[s:e] for s, e, _ in spans])
    pieces: list[_Piece] = []
    for (start, end, opens), tokens in zip(spans, counts, strict=True):
        if tokens <= limit:
            pieces.append(_Piece(start, end, tokens, opens))
        else:
            for n, (s, e, t) in enumerate(_split_long(text, start, end, budget, limit)):
                pieces.append(_Piece(s, e, t, opens and n == 0))
    return pieces


def _spans(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    """Non-blank spans of text[start:end] between separator matches, trimmed of whitespace."""
    spans = []
    position = start
    for match in separator.finditer(text, start, end):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, end))
    trimmed = []
    for s, e in spans:
        segment = text[s:e]
        stripped = segment.strip()
        if stripped:
            s += len(segment) - len(segment.lstrip())
            trimmed.append((s, s + len(stripped)))
    return trimmed


def _split_long(
    text: str, start: int, end: int, budget: ChunkBudget, limit: int
) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence at word boundaries (or inside a giant word) to fit limit."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    words = [(start + s, start + e) for s, e in words]
    counts = budget.count_tokens([text[s:e] for s, e in words])
    parts: list[tuple[int, int, int]] = []
    current: list[tuple[int, int, int]] = []
    for (s, e), tokens in zip(words, counts, strict=True):
        if tokens > limit:
            # A word-piece never covers less than one character, so `limit` characters fit.
            for cut in range(s, e, limit):
                parts.append((cut, min(e, cut + limit), min(limit, e - cut)))
            continue
        if current and sum(t for *_, t in current) + tokens > limit:
            parts.append((current[0][0], current[-1][1], sum(t for *_, t in current)))
            current = []
        current.append((s, e, tokens))
    if current:
        parts.append((current[0][0], current[-1][1], sum(t for *_, t in current)))
    return sorted(parts)


def _pack_section(text: str, section: _Section, budget: ChunkBudget) -> list[tuple[int, int]]:
    """Greedily fill chunks with whole sentences, preferring to break between paragraphs."""
    heading_tokens = budget.count_tokens([section.heading])[0] + 1 if section.heading else 0
    hard_limit = max(1, budget.max_text_tokens - heading_tokens)
    limit = min(budget.settings.chunk_tokens, hard_limit)
    pieces = _pieces(text, section, budget, limit)
    chunks: list[tuple[int, int]] = []
    current: list[_Piece] = []
    for index, piece in enumerate(pieces):
        used = sum(p.tokens for p in current)
        paragraph_fits = piece.opens_paragraph and used + _paragraph_tokens(pieces, index) <= limit
        early_break = piece.opens_paragraph and not paragraph_fits and used >= limit // 2
        if current and (used + piece.tokens > limit or early_break):
            chunks.append((current[0].start, current[-1].end))
            room = limit - piece.tokens
            current = [] if piece.opens_paragraph else _overlap(current, budget, room)
        current.append(piece)
    if current:
        chunks.append((current[0].start, current[-1].end))
    return _enforce_limit(text, chunks, budget, hard_limit)


def _paragraph_tokens(pieces: list[_Piece], index: int) -> int:
    total = pieces[index].tokens
    for piece in pieces[index + 1 :]:
        if piece.opens_paragraph:
            break
        total += piece.tokens
    return total


def _overlap(previous: list[_Piece], budget: ChunkBudget, room: int) -> list[_Piece]:
    """Trailing sentences of the previous chunk repeated at the start of the next."""
    carried: list[_Piece] = []
    allowance = min(budget.settings.overlap_tokens, room)
    for piece in reversed(previous[1:]):
        if sum(p.tokens for p in carried) + piece.tokens > allowance:
            break
        carried.insert(0, piece)
    return carried


def _enforce_limit(
    text: str, chunks: list[tuple[int, int]], budget: ChunkBudget, hard_limit: int
) -> list[tuple[int, int]]:
    """Check real token counts of the joined text; halve any chunk that is still too long."""
    counts = budget.count_tokens([text[s:e] for s, e in chunks])
    checked: list[tuple[int, int]] = []
    for (start, end), tokens in zip(chunks, counts, strict=True):
        if tokens <= hard_limit or end - start < 2:
            checked.append((start, end))
            continue
        middle = text.rfind(" ", start, start + (end - start) // 2)
        middle = middle if middle > start else start + (end - start) // 2
        halves = [(start, middle), (middle + (text[middle] == " "), end)]
        checked.extend(_enforce_limit(text, halves, budget, hard_limit))
    return checked
