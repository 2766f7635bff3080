"""Tie an answer to the passage text that supports it, or show that nothing does.

An answer is matched against the passages word by word, with case, accents, punctuation and
number formats set aside ("33B", "33 billion", "33,000,000,000" and "33 mil millones" are one
number). A match gives the exact span of the passage, which becomes the answer, and the
sentence around it. An answer with no span is grounded only when its content words (numbers,
names, links) all appear in some passage.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ragcli.records import Evidence, Passage

_WORD = re.compile(r"https?://[^\s)\]]+|[^\s@]+@\S+\.\w+|[^\W_]+(?:[.,'’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
_SCALED = re.compile(r"^(\d+(?:[.,]\d+)?)([kmb]|bn)$")
# A sentence ends at . ! ? (closing quotes or brackets may follow), at a blank line, and at
# a line break next to a table row or a list item, which are units of their own.
_SENTENCE_END = re.compile(
    r"[.!?…。][\"'”’)\]]*(?=\s)|\n\s*\n|\n(?=[ \t]*(?:[|*+#-]|\d+[.)]\s))|(?<=\|)[ \t]*\n"
)
# Number words, by language, as multipliers; "mil millones" is Spanish for a billion.
_SCALES = {
    "thousand": 10**3,
    "million": 10**6,
    "millions": 10**6,
    "billion": 10**9,
    "billions": 10**9,
    "trillion": 10**12,
    "mil": 10**3,
    "millon": 10**6,
    "millones": 10**6,
    "billon": 10**12,
    "billones": 10**12,
    "k": 10**3,
    "m": 10**6,
    "b": 10**9,
    "bn": 10**9,
    "mille": 10**3,
    "milliard": 10**9,
    "milliards": 10**9,
    "milliarde": 10**9,
    "milliarden": 10**9,
    "tausend": 10**3,
    "millionen": 10**6,
}
# Leading words an answer may carry that its passage does not: articles, in a few languages.
_LEADING = frozenset(
    [
        "a",
        "an",
        "the",
        "el",
        "la",
        "los",
        "las",
        "un",
        "una",
        "le",
        "les",
        "des",
        "der",
        "die",
        "das",
        "il",
        "lo",
        "gli",
    ]
)


@dataclass(frozen=True)
class Token:
    """A normalised word of a text and where it stands in that text."""

    key: str
    start: int
    end: int


@dataclass(frozen=True)
class Grounding:
    """What supports an answer: the exact span (when found), the evidence, and the verdict."""

    span: str | None
    evidence: Evidence | None
    grounded: bool


def fold(word: str) -> str:
    """Lower-case a word and strip its accents ("Parámetros" -> "parametros")."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def tokenize(text: str) -> list[Token]:
    """Split text into folded words with their offsets, number expressions made canonical."""
    raw = [
        Token(_POSSESSIVE.sub("", fold(m.group())), m.start(), m.end())
        for m in _WORD.finditer(text)
    ]
    tokens: list[Token] = []
    index = 0
    while index < len(raw):
        token, consumed = _number_at(raw, index)
        tokens.append(token)
        index += consumed
    return tokens


def _number_at(raw: list[Token], index: int) -> tuple[Token, int]:
    """Read a number and the scale words after it ("33 mil millones") as one token."""
    first = raw[index]
    scaled = _SCALED.match(first.key)
    if scaled:
        value = _parse_number(scaled.group(1)) * _SCALES[scaled.group(2)]
        return Token(_canonical(value), first.start, first.end), 1
    if not _NUMBER.match(first.key):
        return first, 1
    value = _parse_number(first.key)
    consumed = 1
    while (
        index + consumed < len(raw)
        and raw[index + consumed].key in _SCALES
        and len(raw[index + consumed].key) > 1
    ):
        value *= _SCALES[raw[index + consumed].key]
        consumed += 1
    end = raw[index + consumed - 1].end
    return Token(_canonical(value), first.start, end), consumed


def _parse_number(text: str) -> float:
    """Read digits with thousands separators ("60,000", "60.000") or a decimal point."""
    groups = re.split(r"[.,]", text)
    if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]):
        return float("".join(groups))
    if len(groups) == 2:
        return float(f"{groups[0]}.{groups[1]}")
    return float("".join(groups))


def _canonical(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def find_span(answer: str, text: str) -> tuple[int, int] | None:
    """Return where the answer stands in text (offsets into text), matched word by word."""
    if not answer.strip():
        return None
    exact = text.find(answer)
    if exact >= 0:
        return exact, exact + len(answer)
    wanted = [t.key for t in tokenize(answer)]
    while len(wanted) > 1 and wanted[0] in _LEADING:
        wanted = wanted[1:]
    if not wanted:
        return None
    tokens = tokenize(text)
    keys = [t.key for t in tokens]
    for start in range(len(keys) - len(wanted) + 1):
        if keys[start : start + len(wanted)] == wanted:
            return tokens[start].start, tokens[start + len(wanted) - 1].end
    return None


def content_words(answer: str) -> list[str]:
    """The words of an answer that must not be invented: numbers, names, links.

    A name is a word with a capital letter past the answer's first word (which any sentence
    capitalises), or an acronym.
    """
    return [answer[start:end] for start, end in _content_spans(answer)]


def _content_spans(answer: str) -> list[tuple[int, int]]:
    spans = []
    for position, match in enumerate(_WORD.finditer(answer)):
        word = match.group()
        capital = any(char.isupper() for char in word[1:] if char.isalpha()) or (
            position > 0 and word[:1].isupper()
        )
        if any(char.isdigit() for char in word) or "://" in word or "@" in word or capital:
            spans.append(match.span())
    return spans


def ground(
    answer: str, passages: Sequence[Passage], prefer: int | None = None, question: str = ""
) -> Grounding:
    """Find the answer's span in the passages and the sentence that best supports it.

    Of the passages holding the span, the sentence sharing most words with the question
    wins, then the shorter (a sentence over a table row), then the preferred passage.
    """
    ordered = sorted(passages, key=lambda p: p.number != prefer)
    asked = {t.key for t in tokenize(question) if len(t.key) > 2}
    found: list[tuple[int, int, int, Evidence, str]] = []
    for rank, passage in enumerate(ordered):
        span = find_span(answer, passage.text)
        if span is not None:
            evidence = _evidence(passage, *span)
            shared = len(asked & {t.key for t in tokenize(evidence.sentence)})
            found.append(
                (-shared, len(evidence.sentence), rank, evidence, passage.text[span[0] : span[1]])
            )
    if found:
        *_, best, text = min(found, key=lambda f: f[:3])
        return Grounding(text, best, True)
    present = {t.key for p in passages for t in tokenize(f"{p.heading}\n{p.text}")}
    tokens = tokenize(answer)
    spans = _content_spans(answer)
    # Tokens, not words: "33 billion" is one number token wherever it is written.
    needed = [t.key for t in tokens if any(t.start < end and start < t.end for start, end in spans)]
    words = [t.key for t in tokens]
    # Content words all there, and most of the others: a paraphrase, not an invention.
    grounded = (
        bool(words)
        and all(key in present for key in needed)
        and (2 * sum(key in present for key in words) >= len(words))
    )
    closest = _closest_sentence(answer, ordered) if grounded else None
    return Grounding(None, closest, grounded)


def _evidence(passage: Passage, start: int, end: int) -> Evidence:
    """The evidence for a span of a passage: the sentence holding it, and its place."""
    sentence_start, sentence_end = sentence_around(passage.text, start, end)
    return Evidence(
        passage=passage.number,
        path=passage.path,
        page=passage.page,
        line=passage.start_line + passage.text.count("\n", 0, start),
        sentence=" ".join(passage.text[sentence_start:sentence_end].split()),
        start_char=passage.start_char + start,
        end_char=passage.start_char + end,
    )


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """Return the offsets of the sentence (or sentences) holding text[start:end]."""
    sentence_start, sentence_end = 0, len(text)
    for match in _SENTENCE_END.finditer(text):
        if match.end() <= start:
            sentence_start = match.end()
        elif match.start() >= end - 1 and match.end() > end - 1:
            sentence_end = match.end()
            break
    while sentence_start < start and text[sentence_start].isspace():
        sentence_start += 1
    return sentence_start, sentence_end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The offsets of text's sentences, in order, each without the whitespace before it.

    Together they cover the text but for that whitespace; a text of blanks has none.
    """
    spans = []
    start = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = match.end() if match else len(text)
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            spans.append((start, end))
        start = end
    return spans


def _closest_sentence(answer: str, passages: Sequence[Passage]) -> Evidence | None:
    """The sentence sharing the most words with a paraphrased answer."""
    wanted = {t.key for t in tokenize(answer)}
    best: tuple[int, Passage, int, int] | None = None
    for passage in passages:
        for start, end in sentence_spans(passage.text):
            shared = len(wanted & {t.key for t in tokenize(passage.text[start:end])})
            if shared and (best is None or shared > best[0]):
                best = (shared, passage, start, end)
    if best is None:
        return None
    _, passage, start, end = best
    while start < end and passage.text[start].isspace():
        start += 1
    return _evidence(passage, start, end)
