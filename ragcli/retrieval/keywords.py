"""Turn free text into a safe SQLite FTS5 query: no user text is ever parsed as FTS5 syntax."""

from __future__ import annotations

import re

# Words (with their inner joiners: "Grok-0", "ERR_4471", "v1.2.3", "example.com") are kept
# whole and searched as phrases, so identifiers match exactly what they are.
WORD = re.compile(r"\w+(?:[-_.:/'’]\w+)*")
_MAX_TERMS = 64

# Function words: they match nearly every chunk, cost time and add no signal to BM25.
_STOPWORD_LIST = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
s t don
"""
# Spanish function words (accents folded by the index, so both spellings are listed where
# people drop them); words that are also English content words ("sin", "son") are kept.
_SPANISH_STOPWORDS = """
el la los las un una unos unas de del al en con por para que qué cual cuál cuales
cuáles quien quién quienes quiénes como cómo cuando cuándo donde dónde cuanto cuánto cuanta
cuánta cuantos cuántos cuantas cuántas es está están esta este estos estas ese esa esos esas
fue fueron ser era eran ha han hay se su sus lo le les me mi mis nos ya muy más mas pero
sino ni también tiene tienen tenía
"""
STOPWORDS = frozenset(_STOPWORD_LIST.split()) | frozenset(_SPANISH_STOPWORDS.split())


def query_terms(text: str) -> list[str]:
    """Return the distinct searchable words of a text, lower-cased, function words left out."""
    terms: list[str] = []
    seen: set[str] = set()
    for match in WORD.finditer(text.lower()):
        word = match.group().strip("_")
        if not word or word in STOPWORDS or word in seen or not any(c.isalnum() for c in word):
            continue
        seen.add(word)
        terms.append(word)
        if len(terms) == _MAX_TERMS:
            break
    return terms


def fts_query(terms: list[str]) -> str:
    """Build an FTS5 MATCH expression: any of the terms, each a quoted phrase."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
