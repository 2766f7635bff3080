"""The relevance gate `ask` puts between retrieval and the LLM: a cosine floor, or an exact term."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragcli.records import Chunk, Hit
from ragcli.retrieval.keywords import STOPWORDS, WORD

_DISTINCTIVE = re.compile(r"\w*\d\w*|\w+(?:[-_.:/]\w+)+|[A-Z]{2,}\w*|\w+[a-z][A-Z]\w*")


# Longer runs of word characters name nothing a chunk could match, and _DISTINCTIVE's
# backtracking over one costs time quadratic in its length.
_OVERLONG_WORD = re.compile(r"\w{65,}")


# Characters that are words on their own: CJK ideographs and Hangul syllables.
_LOGOGRAM = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7a3\U00020000-\U0003ffff]"
)


def names_something(question: str) -> bool:
    """Whether a question has a content word to look up; if not, nothing could answer it.

    Function words (English, Spanish), punctuation and a lone letter or digit name nothing:
    "a", "5", "What is it?", "¿Qué?", "??". A word of two or more characters in any script
    does, as does a CJK ideograph or Hangul syllable (each a word on its own), and a capital
    letter or a digit in a longer question ("What is C?", "Is 5 prime?").
    """
    words = [m.group().strip("_") for m in WORD.finditer(question)]
    return any(_is_content(word, several=len(words) > 1) for word in words)


def _is_content(word: str, several: bool) -> bool:
    if not any(c.isalnum() for c in word) or word.lower() in STOPWORDS:
        return False
    if len(word) > 1 or _LOGOGRAM.match(word):
        return True
    return several and (word.isupper() or word.isdigit())


def relevant_hits(question: str, hits: Sequence[Hit], min_score: float, mode: str) -> list[Hit]:
    """Return the hits that pass the relevance floor, in their order.

    A chunk passes when its cosine similarity reaches the floor, or when it contains one
    of the question's exact terms (an identifier, a number, an acronym) that keyword
    search matched: embeddings often miss those. Keyword mode has no cosine to check.
    """
    terms = distinctive_terms(question)
    keyword_only = mode == "keyword"
    return [
        hit
        for hit in hits
        if keyword_only
        or (hit.dense is not None and hit.dense >= min_score)
        or (hit.keyword is not None and names_term(hit.chunk, terms))
    ]


def distinctive_terms(question: str) -> list[str]:
    """Return the question's exact-match terms: identifiers, numbers, acronyms, CamelCase."""
    bounded = _OVERLONG_WORD.sub(" ", question)
    return [m.group().lower() for m in _DISTINCTIVE.finditer(bounded)]


def names_term(chunk: Chunk, terms: list[str]) -> bool:
    """Whether a chunk's text or heading contains any of the given exact terms."""
    haystack = f"{chunk.heading}\n{chunk.text}".lower()
    return any(term in haystack for term in terms)
