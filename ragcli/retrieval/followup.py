"""Follow-up questions: read a question in the light of the conversation before it.

No model rewrites the question (a small one cannot). A question *continues* the
conversation when it opens with an ellipsis ("And in 1990?", "What about Ukraine?"), has too
few words of its own to stand alone ("On what date?"), points back with a pronoun ("it",
"their", "the second one") or refers to what was said before ("the program" after a
question on the Apollo program). It *starts a new topic* when it names a subject the
earlier questions did not; a nameless question that says enough on its own is read as
probably new. A follow-up carries the words of its topic's turns (the questions, and the
first words of the answers given) into the search, counted below the question's own words
(searcher.py: a second keyword search added in at the lower weight, and the question's
vector leaning towards theirs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragcli.records import Turn
from ragcli.retrieval.keywords import STOPWORDS, WORD, query_terms

# Words that point back to something the conversation named before ("that" is left out:
# it is as often a relative pronoun, "the laws that ...").
_ANAPHOR_LIST = """
it its it's itself they them their theirs themselves he him his himself she her hers herself
this these those such there former latter one ones
"""
_ANAPHORS = frozenset(_ANAPHOR_LIST.split())
# Openings that leave out what the earlier turns said: "And in 1990?", "What about X?".
_ELLIPSIS = re.compile(r"^\s*(?:and|but|or|also|what about|how about|same for)\b", re.I)
# A question with at most this many content words of its own leans on the earlier turns;
# without a name or a word pointing back, one with more says enough to stand alone.
_FEW_WORDS = 2
_SHORT = 3
# Words of the earlier turns' answers carried at most: the answer's words name what the
# question asked about, which a next question often refers to ("Who was his father?").
_ANSWER_WORDS = 12
# How much the carried words count against the question's own (1.0 = as much), and the
# share of that for a question that names no new subject but seems to stand alone.
CARRIED_WEIGHT = 0.5
NAMELESS_SHARE = 0.4


@dataclass(frozen=True)
class Query:
    """What a search looks for: the question's words, and the words carried to it.

    `carried` holds the earlier turns' words a follow-up carries (empty for a question on
    its own); retrieval counts them `carried_weight` times as much as the question's.
    """

    text: str
    carried: str = ""
    carried_weight: float = 0.0
    # Whether the question leaves out what it follows ("And on MMLU?", "On what date?"):
    # it cannot be read without the last turn.
    elliptic: bool = False

    @property
    def follows_up(self) -> bool:
        """Whether earlier turns' words are carried into the search."""
        return bool(self.carried) and self.carried_weight > 0


def as_query(question: str | Query) -> Query:
    """A question as a query: a string carries nothing."""
    return question if isinstance(question, Query) else Query(question)


def resolve(question: str, history: Sequence[Turn], weight: float | None = None) -> Query:
    """Read a question in the light of the turns before it (oldest first).

    `weight` is how much the carried words count against the question's own (default:
    CARRIED_WEIGHT, which bench/followup_bench.py tunes).
    """
    weight = CARRIED_WEIGHT if weight is None else weight
    earlier = [turn.question for turn in history]
    if not history or names_new(question, earlier) and not continues(question, earlier):
        return Query(question)
    if not continues(question, earlier):
        # Nameless, it seems to stand alone, yet its subject may still be the earlier one
        # ("Which writer uses the term more broadly?"): the earlier words count a little.
        weight *= NAMELESS_SHARE
    carried = topic_words(history)
    if not carried:
        return Query(question)
    return Query(question, carried, weight, elliptic=elliptic(question))


def continues(question: str, earlier: Sequence[str]) -> bool:
    """Whether a question continues the conversation of the earlier questions.

    It does when it opens with an ellipsis ("And in Georgia?"), has few words of its own
    ("On what date?"), has a pronoun that points back ("it", "their", "one"), or refers to
    what was said before naming anything new ("the program" after a question on the Apollo
    program); otherwise a name the earlier questions did not use starts a new topic, and so
    does a nameless question that says enough on its own.
    """
    if elliptic(question):
        return True
    words = [m.group() for m in WORD.finditer(question)]
    lowered = [word.lower() for word in words]
    if any(word in _ANAPHORS for word in lowered):
        return True
    own = [word for word in lowered if word not in STOPWORDS and word not in _ANAPHORS]
    known = _said(earlier)
    names = [at for at, word in enumerate(words) if at and _is_new_name(word, known)]
    # "the program" refers back, unless a name of its own came first ("the Nobel Prize").
    pointer = next((at for at in range(1, len(words)) if _refers_back(lowered, at, known)), None)
    if pointer is not None and (not names or pointer < names[0]):
        return True
    return not names and len(own) <= _SHORT


def elliptic(question: str) -> bool:
    """Whether a question leaves out what it follows: "And in 1990?", "On what date?".

    A short question with a pronoun says what it follows ("What did it score?").
    """
    if _ELLIPSIS.match(question):
        return True
    lowered = [m.group().lower() for m in WORD.finditer(question)]
    own = [word for word in lowered if word not in STOPWORDS and word not in _ANAPHORS]
    return len(own) <= _FEW_WORDS and not any(word in _ANAPHORS for word in lowered)


def names_new(question: str, earlier: Sequence[str]) -> bool:
    """Whether a question has a name (capitalised, not its first word) the earlier lack."""
    known = _said(earlier)
    words = [m.group() for m in WORD.finditer(question)]
    return any(_is_new_name(word, known) for word in words[1:])


def _said(texts: Sequence[str]) -> set[str]:
    """The searchable words of the texts, lower-cased."""
    return {word for text in texts for word in query_terms(text)}


def _is_new_name(word: str, known: set[str]) -> bool:
    """Whether a word is a name (capitalised) the earlier questions lack."""
    return word[:1].isupper() and word.lower() not in STOPWORDS and word.lower() not in known


def _refers_back(lowered: Sequence[str], at: int, known: set[str]) -> bool:
    """Whether the word at `at` (not the first) is "the X" with X said before."""
    return lowered[at] in known and lowered[at - 1] == "the"


def topic_words(history: Sequence[Turn]) -> str:
    """The words of the current topic's turns: from the last one that started it, on."""
    start = 0
    for position in range(1, len(history)):
        earlier = [turn.question for turn in history[:position]]
        question = history[position].question
        # Only a name starts a topic: a nameless question that seemed to stand alone may
        # still have meant the subject before ("Which writer uses the term more broadly?").
        if names_new(question, earlier) and not continues(question, earlier):
            start = position
    parts = []
    for turn in history[start:]:
        parts.append(turn.question)
        answer_words = query_terms(turn.answer_text)[:_ANSWER_WORDS]
        parts.append(" ".join(answer_words))
    return " ".join(part for part in parts if part).strip()
