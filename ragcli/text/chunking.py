"""Split documents into chunks that follow sections, paragraphs and sentences.

No chunk is longer, in the embedder's own word pieces, than the embedder can read: text past
that limit would be invisible to search.

Cost is linear in the text whatever its shape (one enormous line, a million short words): the
tokenizer is fed bounded batches, running totals replace re-summing, and a span too long to
be a chunk is cut at its words without being tokenized whole.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from ragcli.records import Chunk, ChunkingSettings, Document, Page
from ragcli.text.sections import Outline, Section, sections_of

CountTokens = Callable[[Sequence[str]], list[int]]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LINE_END = re.compile(r"\n")
_WORD = re.compile(r"\S+")
# Tokenizer calls take at most this many texts and characters: its encodings cost far more
# memory than the text itself.
_COUNT_BATCH_TEXTS = 4096
_COUNT_BATCH_CHARS = 256_000
# A span (or word) longer than this is never tokenized whole; it is cut at words (or, a word,
# every `limit` characters). A chunk holds a few thousand characters at most.
_WHOLE_SPAN_CHARS = 16_384
# No word piece covers more characters than this (BERT's WordPiece gives [UNK] past 100).
_MAX_CHARS_PER_TOKEN = 100


@dataclass(frozen=True)
class ChunkBudget:
    """How many word pieces a chunk may hold and how they are counted."""

    settings: ChunkingSettings
    max_text_tokens: int
    count_tokens: CountTokens


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    tokens: int
    opens_paragraph: bool


def split_into_chunks(document: Document, budget: ChunkBudget) -> list[Chunk]:
    """Split every page of a document into chunks."""
    return list(iter_chunks(document, budget))


def iter_chunks(document: Document, budget: ChunkBudget) -> Iterator[Chunk]:
    """Yield a document's chunks page by page, reading its pages only once."""
    outline = Outline()
    for page in document.pages:
        line_starts = [0] + [m.end() for m in re.finditer("\n", page.text)]
        for found in sections_of(page.text, document.kind, outline):
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
        ocr=page.ocr,
    )


def _fit_heading(heading: str, budget: ChunkBudget) -> str:
    """Shorten a heading path from the front to at most a quarter of the token limit."""
    room = budget.max_text_tokens // 4
    # Only the tail can survive: each word is a token at least, and a token spans few chars.
    words = heading[-room * _MAX_CHARS_PER_TOKEN :].split(" ")[-room:]
    while words and budget.count_tokens([" ".join(words)])[0] > room:
        words = words[1:]
    return " ".join(words)


def _pieces(text: str, section: Section, budget: ChunkBudget, limit: int) -> list[_Piece]:
    """Sentences of a section (split further where one alone is over the limit)."""
    spans: list[tuple[int, int, bool]] = []
    for paragraph in _spans(text, section.start, section.end, _PARAGRAPH_BREAK):
        sentences = _spans(text, paragraph[0], paragraph[1], section.unit_end)
        spans.extend((s, e, n == 0) for n, (s, e) in enumerate(sentences))
    whole = [(s, e) for s, e, _ in spans if e - s <= _WHOLE_SPAN_CHARS]
    counted = dict(zip(whole, _count_spans(text, whole, budget), strict=True))
    pieces: list[_Piece] = []
    for start, end, opens in spans:
        tokens = counted.get((start, end), limit + 1)
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
    words = [m.span() for m in _WORD.finditer(text, start, end)]
    short = [(s, e) for s, e in words if e - s <= _WHOLE_SPAN_CHARS]
    counted = dict(zip(short, _count_spans(text, short, budget), strict=True))
    parts: list[tuple[int, int, int]] = []
    first, last, used = -1, -1, 0
    for s, e in words:
        tokens = counted.get((s, e), limit + 1)
        if first >= 0 and (used + tokens > limit or tokens > limit):
            parts.append((first, last, used))
            first, used = -1, 0
        if tokens > limit:
            # A word-piece never covers less than one character, so `limit` characters fit.
            parts.extend(
                (cut, min(e, cut + limit), min(limit, e - cut)) for cut in range(s, e, limit)
            )
            continue
        first = s if first < 0 else first
        last, used = e, used + tokens
    if first >= 0:
        parts.append((first, last, used))
    return parts


def _count_spans(text: str, spans: list[tuple[int, int]], budget: ChunkBudget) -> list[int]:
    """Word pieces in each span of text, counted in bounded batches."""
    counts: list[int] = []
    batch: list[str] = []
    chars = 0
    for s, e in spans:
        if batch and (len(batch) >= _COUNT_BATCH_TEXTS or chars + e - s > _COUNT_BATCH_CHARS):
            counts.extend(budget.count_tokens(batch))
            batch, chars = [], 0
        batch.append(text[s:e])
        chars += e - s
    if batch:
        counts.extend(budget.count_tokens(batch))
    return counts


def _pack_section(text: str, section: Section, budget: ChunkBudget) -> list[tuple[int, int]]:
    """Greedily fill chunks with whole sentences, preferring to break between paragraphs."""
    heading_tokens = budget.count_tokens([section.heading])[0] + 1 if section.heading else 0
    hard_limit = max(1, budget.max_text_tokens - heading_tokens)
    limit = min(budget.settings.chunk_tokens, hard_limit)
    pieces = _pieces(text, section, budget, limit)
    chunks: list[tuple[int, int]] = []
    current: list[_Piece] = []
    used = 0
    paragraph_tokens = _paragraph_tokens(pieces)
    for index, piece in enumerate(pieces):
        paragraph_fits = piece.opens_paragraph and used + paragraph_tokens[index] <= limit
        early_break = piece.opens_paragraph and not paragraph_fits and used >= limit // 2
        if current and (used + piece.tokens > limit or early_break):
            chunks.append((current[0].start, current[-1].end))
            room = limit - piece.tokens
            current = [] if piece.opens_paragraph else _overlap(current, budget, room)
            used = sum(p.tokens for p in current)
        current.append(piece)
        used += piece.tokens
    if current:
        chunks.append((current[0].start, current[-1].end))
    return _enforce_limit(text, chunks, budget, hard_limit)


def _paragraph_tokens(pieces: list[_Piece]) -> list[int]:
    """For each piece, the tokens from it to the end of its paragraph (one backward pass)."""
    totals = [0] * len(pieces)
    running = 0
    for index in range(len(pieces) - 1, -1, -1):
        running += pieces[index].tokens
        totals[index] = running
        if pieces[index].opens_paragraph:
            running = 0
    return totals


def _overlap(previous: list[_Piece], budget: ChunkBudget, room: int) -> list[_Piece]:
    """Trailing sentences of the previous chunk repeated at the start of the next."""
    carried: list[_Piece] = []
    allowance = min(budget.settings.overlap_tokens, room)
    used = 0
    for piece in reversed(previous[1:]):
        if used + piece.tokens > allowance:
            break
        carried.append(piece)
        used += piece.tokens
    return carried[::-1]


def _enforce_limit(
    text: str, chunks: list[tuple[int, int]], budget: ChunkBudget, hard_limit: int
) -> list[tuple[int, int]]:
    """Check real token counts of the joined text; halve any chunk that is still too long."""
    counts = _count_spans(text, chunks, budget)
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
