"""Context packing: ranked hits become deduplicated, merged, numbered passages in a budget."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ragcli.records import Chunk, Hit, Passage

CountTokens = Callable[[str], int]

# Chunks this close are one span of the file: the 1-2 characters between them are
# whitespace the chunker dropped, so they are rejoined with a line break.
_MAX_GAP_CHARS = 2
# A sentence ends at ., ! or ? (closing quotes or brackets may follow) before whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s)")
_WORD_END = re.compile(r"\S(?=\s)")


def format_passage(passage: Passage) -> str:
    """Render one numbered context block as the prompt shows it."""
    body = " ".join(passage.text.split())
    return f"[{passage.number}] ({passage_label(passage)})\n{body}"


def passage_label(passage: Passage) -> str:
    """What a prompt calls a passage: file name, page, heading; one line of valid text.

    A file name's bytes that are not UTF-8 are written as \\xNN (the model's tokenizer
    takes only text), and a newline in a name cannot break the prompt's layout.
    """
    name = os.fsencode(Path(passage.path).name).decode("utf-8", "backslashreplace")
    label = " ".join(name.split())
    if passage.page is not None:
        label += f", page {passage.page}"
    if passage.heading:
        label += f", {passage.heading}"
    return label


def pack_passages(
    hits: Sequence[Hit],
    count_tokens: CountTokens,
    budget_tokens: int,
    min_passage_tokens: int = 32,
) -> tuple[Passage, ...]:
    """Turn ranked hits into numbered passages that fit the token budget."""
    if not hits or budget_tokens <= 0:
        return ()
    passages = _merge_spans(drop_duplicates(hits))
    cap_tokens = max(min_passage_tokens, budget_tokens // 3)
    capped = [_fit(p, cap_tokens, count_tokens) for p in passages]
    return _fill(
        [p for p in capped if p is not None], count_tokens, budget_tokens, min_passage_tokens
    )


def separate_passages(
    hits: Sequence[Hit], count_tokens: CountTokens, max_tokens_each: int, limit: int
) -> tuple[Passage, ...]:
    """Turn ranked hits into at most `limit` numbered passages, each cut to fit alone."""
    if not hits or max_tokens_each <= 0:
        return ()
    kept: list[Passage] = []
    for passage in _merge_spans(drop_duplicates(hits)):
        fitted = _fit(replace(passage, number=len(kept) + 1), max_tokens_each, count_tokens)
        if fitted is not None:
            kept.append(fitted)
        if len(kept) == limit:
            break
    return tuple(kept)


def _cost(passage: Passage, count_tokens: CountTokens) -> int:
    """Count the tokens a passage takes in the prompt, with the newline after its block."""
    return count_tokens(format_passage(passage)) + 1


def drop_duplicates(hits: Sequence[Hit]) -> list[Hit]:
    """Keep the first hit of each chunk text, compared with whitespace normalised."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        key = " ".join(hit.chunk.text.split())
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept


def _merge_spans(ranked: list[Hit]) -> list[Passage]:
    """Merge hits of one file page whose spans overlap or touch; order by best member.

    A file page is one store's: two stores may hold the same path, and stay apart.
    """
    by_page: dict[tuple[str, str, int | None], list[int]] = {}
    for rank, hit in enumerate(ranked):
        by_page.setdefault((hit.store, hit.chunk.path, hit.chunk.page), []).append(rank)
    runs = [run for ranks in by_page.values() for run in _contiguous_runs(ranked, ranks)]
    runs.sort(key=min)
    return [
        _join_run([ranked[r].chunk for r in run], [ranked[r] for r in sorted(run)]) for run in runs
    ]


def _contiguous_runs(ranked: list[Hit], ranks: list[int]) -> list[list[int]]:
    """Group one page's hit ranks into chains of overlapping or touching spans, in order."""
    ranks = sorted(ranks, key=lambda r: (ranked[r].chunk.start_char, ranked[r].chunk.end_char))
    runs: list[list[int]] = []
    run_end = 0
    for rank in ranks:
        chunk = ranked[rank].chunk
        if runs and chunk.start_char <= run_end + _MAX_GAP_CHARS:
            runs[-1].append(rank)
            run_end = max(run_end, chunk.end_char)
        else:
            runs.append([rank])
            run_end = chunk.end_char
    return runs


def _join_run(chunks: list[Chunk], hits: list[Hit]) -> Passage:
    """Build one passage from chunks in document order that form a contiguous span."""
    first = chunks[0]
    text, end_char = first.text, first.end_char
    for chunk in chunks[1:]:
        if chunk.end_char <= end_char:
            continue
        if chunk.start_char <= end_char:
            text += chunk.text[end_char - chunk.start_char :]
        else:
            # The whitespace the chunker dropped, as line breaks: offsets stay the file's.
            text += "\n" * (chunk.start_char - end_char) + chunk.text
        end_char = chunk.end_char
    return Passage(
        number=0,
        path=first.path,
        page=first.page,
        start_line=min(c.start_line for c in chunks),
        end_line=max(c.end_line for c in chunks),
        heading=first.heading,
        text=text,
        hits=tuple(hits),
        start_char=first.start_char,
    )


def _fill(
    passages: list[Passage], count_tokens: CountTokens, budget_tokens: int, min_tokens: int
) -> tuple[Passage, ...]:
    """Keep passages greedily in rank order; cut the first that overflows a large room."""
    kept: list[Passage] = []
    room = budget_tokens
    for passage in passages:
        numbered = replace(passage, number=len(kept) + 1)
        cost = _cost(numbered, count_tokens)
        if cost <= room:
            kept.append(numbered)
            room -= cost
        elif room >= min_tokens:
            cut = _cut(numbered, room, count_tokens)
            if cut is not None:
                kept.append(cut)
            break
    return tuple(kept)


def _fit(passage: Passage, max_tokens: int, count_tokens: CountTokens) -> Passage | None:
    """Return the passage, cut to max_tokens if it costs more; None if no word fits."""
    if _cost(passage, count_tokens) <= max_tokens:
        return passage
    return _cut(passage, max_tokens, count_tokens)


def _cut(passage: Passage, max_tokens: int, count_tokens: CountTokens) -> Passage | None:
    """Shorten to the longest prefix within max_tokens ending at a sentence, else a word."""
    text = passage.text
    leading = len(text) - len(text.lstrip())
    sentence_ends = {m.end() for m in _SENTENCE_END.finditer(text)}
    sentence_ends.update(i for i, char in enumerate(text) if char == "\n")
    word_ends = [m.end() for m in _WORD_END.finditer(text)]
    for ends in (sorted(sentence_ends), word_ends):
        candidates = [end for end in ends if end > leading]
        cut = _longest_fitting(passage, candidates, max_tokens, count_tokens)
        if cut is not None:
            return cut
    return None


def _longest_fitting(
    passage: Passage, ends: list[int], max_tokens: int, count_tokens: CountTokens
) -> Passage | None:
    """The longest prefix within max_tokens among the sorted cut points."""
    end = longest_fitting(ends, lambda e: _cost(_prefix(passage, e), count_tokens) <= max_tokens)
    return None if end is None else _prefix(passage, end)


def longest_fitting(ends: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """Binary-search sorted cut points for the last that fits; None if none does.

    Costs grow with the prefix, so log2(len(ends)) token counts find the longest fit.
    """
    best: int | None = None
    low, high = 0, len(ends) - 1
    while low <= high:
        middle = (low + high) // 2
        if fits(ends[middle]):
            best, low = ends[middle], middle + 1
        else:
            high = middle - 1
    return best


def _prefix(passage: Passage, end: int) -> Passage:
    """Return the passage holding only text[:end], trailing whitespace stripped."""
    text = passage.text[:end].rstrip()
    return replace(passage, text=text, end_line=passage.start_line + text.count("\n"))
