"""Evidence-first reading: of each retrieved chunk, the sentences that answer the question.

A 270M model reading a 300-token passage is slow (each passage is most of a prompt) and
easily lost: it declines, or answers from the wrong sentence. So each chunk is split into
sentences, each sentence is scored against the question, and the model reads a window: the
best sentence with its neighbours, grown while it fits a small token budget. The score is
the share of the question's content words the sentence holds, each weighed by how rare it is
among the sentences read (words compared stem to stem, so "invented" meets "invention"),
plus the cosine between the question's and the sentence's embeddings when an embedder is
given. A window is a slice of its chunk, so offsets and lines stay the file's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragcli.answering.grounding import fold, sentence_spans, tokenize
from ragcli.answering.packing import CountTokens, drop_duplicates, longest_fitting
from ragcli.records import Hit, Passage
from ragcli.retrieval.keywords import STOPWORDS

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Embeds texts as L2-normalised rows (the store's query embedder).
Embed = Callable[[list[str]], "NDArray[np.float32]"]

_FOLDED_STOPWORDS = frozenset(fold(word) for word in STOPWORDS)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ions", "ion", "edly", "ed", "es", "s", "ly")
_MIN_STEM = 4


@dataclass(frozen=True)
class Window:
    """How much of a chunk the model reads around its best sentence."""

    tokens: int = 40
    # Weight of the embeddings' cosine beside the keyword share (0: keywords only).
    dense_weight: float = 0.0


def stem(word: str) -> str:
    """A crude stem: the word without one common English ending, if enough is left."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> set[str]:
    """The stems of a text's words, function words left out."""
    return {stem(t.key) for t in tokenize(text) if t.key not in _FOLDED_STOPWORDS}


def score_sentences(
    question: str,
    sentences: Sequence[str],
    embed: Embed | None = None,
    dense_weight: float = 0.0,
) -> list[float]:
    """Each sentence's score against the question: rare shared words, plus cosine.

    The keyword part is the idf-weighted share of the question's content words the sentence
    holds (0 to 1), idf counted over these sentences; the dense part is dense_weight times
    the cosine of their embeddings.
    """
    if not sentences:
        return []
    wanted = content_stems(question)
    stems = [content_stems(sentence) for sentence in sentences]
    count = len(sentences)
    idf = {
        term: math.log(1.0 + count / (1 + sum(term in held for held in stems))) for term in wanted
    }
    total = sum(idf.values()) or 1.0
    scores = [sum(idf[term] for term in wanted if term in held) / total for held in stems]
    if embed is not None and dense_weight:
        vectors = embed([question, *sentences])
        cosines = vectors[1:] @ vectors[0]
        scores = [s + dense_weight * float(c) for s, c in zip(scores, cosines, strict=True)]
    return scores


def evidence_passages(
    question: str,
    hits: Sequence[Hit],
    count_tokens: CountTokens,
    max_tokens: int,
    limit: int,
    window: Window,
    embed: Embed | None = None,
) -> tuple[Passage, ...]:
    """At most `limit` numbered passages, each the best window of one distinct chunk.

    Chunks are taken in rank order; one whose best sentence another window already shows
    adds nothing and is passed over for the next.
    """
    budget = min(max_tokens, window.tokens)
    chunks = drop_duplicates(hits)
    if not chunks or budget <= 0:
        return ()
    spans = [sentence_spans(hit.chunk.text) for hit in chunks]
    texts = [
        hit.chunk.text[s:e] for hit, found in zip(chunks, spans, strict=True) for s, e in found
    ]
    flat = score_sentences(question, texts, embed, window.dense_weight)
    kept: list[Passage] = []
    at = 0
    for hit, found in zip(chunks, spans, strict=True):
        scores, at = flat[at : at + len(found)], at + len(found)
        if not found:
            continue
        best = max(range(len(found)), key=lambda i: scores[i])
        if any(_shows(p, hit, found[best]) for p in kept):
            continue
        passage = _window(hit, found, best, budget, count_tokens, len(kept) + 1)
        if passage is not None:
            kept.append(passage)
        if len(kept) == limit:
            break
    return tuple(kept)


def _shows(passage: Passage, hit: Hit, span: tuple[int, int]) -> bool:
    """Whether a passage already holds this chunk's sentence at span."""
    chunk = hit.chunk
    start, end = chunk.start_char + span[0], chunk.start_char + span[1]
    return (
        (passage.store, passage.path, passage.page) == (hit.store, chunk.path, chunk.page)
        and passage.start_char <= start
        and end <= passage.start_char + len(passage.text)
    )


def _window(
    hit: Hit,
    spans: list[tuple[int, int]],
    best: int,
    budget: int,
    count_tokens: CountTokens,
    number: int,
) -> Passage | None:
    """The best sentence and its neighbours, before and after in turn, within the budget."""
    text = hit.chunk.text

    def cost(first: int, last: int) -> int:
        return count_tokens(" ".join(text[spans[first][0] : spans[last][1]].split()))

    first = last = best
    if cost(first, last) > budget:
        start, end = spans[best][0], _cut_to(text, spans[best], budget, count_tokens)
        if end is None:
            return None
    else:
        sides = ("before", "after")
        while True:
            for side in sides:
                if side == "before" and first > 0 and cost(first - 1, last) <= budget:
                    first -= 1
                    break
                if side == "after" and last < len(spans) - 1 and cost(first, last + 1) <= budget:
                    last += 1
                    break
            else:
                break
            sides = (sides[1], sides[0])
        start, end = spans[first][0], spans[last][1]
    chunk = hit.chunk
    start_line = chunk.start_line + text.count("\n", 0, start)
    return Passage(
        number=number,
        path=chunk.path,
        page=chunk.page,
        start_line=start_line,
        end_line=start_line + text.count("\n", start, end),
        heading=chunk.heading,
        text=text[start:end],
        hits=(hit,),
        start_char=chunk.start_char + start,
    )


def _cut_to(text: str, span: tuple[int, int], budget: int, count_tokens: CountTokens) -> int | None:
    """The end of the longest run of a sentence's whole words within the budget."""
    start, end = span
    ends = [i for i in range(start + 1, end) if text[i].isspace() and not text[i - 1].isspace()]
    ends.append(end)
    return longest_fitting(
        ends, lambda cut: count_tokens(" ".join(text[start:cut].split())) <= budget
    )
