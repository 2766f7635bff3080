"""Answers and what makes them: passages, prompts, completions, stream events, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from ragcli.records.documents import Hit


@dataclass(frozen=True)
class Passage:
    """One numbered block of prompt context: retrieved chunks merged, deduplicated, cut.

    `text` is exactly what the prompt holds; lines are those of `text` in the file, and
    `start_char` is where `text` starts in the file's (or the PDF page's) text.
    """

    number: int
    path: str
    page: int | None
    start_line: int
    end_line: int
    heading: str
    text: str
    hits: tuple[Hit, ...]
    start_char: int = 0

    @property
    def score(self) -> float:
        """The best score among the chunks this passage came from."""
        return max(hit.score for hit in self.hits)

    @property
    def store(self) -> str:
        """The store its chunks came from (a passage never joins two stores' chunks)."""
        return self.hits[0].store if self.hits else ""

    @property
    def ocr(self) -> bool:
        """Whether OCR read its text (chunks of one page share how they were read)."""
        return any(hit.chunk.ocr for hit in self.hits)


@dataclass(frozen=True)
class Evidence:
    """Where an answer stands in a passage: the exact span and the sentence around it.

    `line` is the file line of the span; `start_char`/`end_char` place the span in the
    file's text (a PDF page's text for PDFs).
    """

    passage: int
    path: str
    page: int | None
    line: int
    sentence: str
    start_char: int
    end_char: int


@dataclass(frozen=True)
class Answer:
    """A generated answer, the numbered passages it was given, and what supports it.

    `grounded` is True when the answer's content words (numbers, names, links) all appear in
    the passages; `evidence` is the sentence it was found in, when one was; `cited` holds
    the numbers of the passages its text cites as [n].
    """

    question: str
    text: str
    passages: tuple[Passage, ...]
    answerable: bool = True
    evidence: Evidence | None = None
    grounded: bool = False
    strategy: str = ""
    cited: frozenset[int] = frozenset()
    # The model's probability of this answer, marginalised over the passages read
    # (`sequence`); None where no strategy measured it.
    confidence: float | None = None


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation: the question asked and the answer given.

    `answer_text` is what the user saw; `answer` is the whole answer when this process made
    it (None when the history came from elsewhere, such as an API client's messages).
    """

    question: str
    answer_text: str = ""
    answer: Answer | None = None


@dataclass(frozen=True)
class AnswerToken:
    """A stream event: a piece of the answer's text as it is generated."""

    text: str


@dataclass(frozen=True)
class AnswerSources:
    """A stream event: the passages an answer was given, sent once it is complete."""

    question: str
    passages: tuple[Passage, ...]
    cited: frozenset[int]


@dataclass(frozen=True)
class AnswerDone:
    """A stream event, the last: the answer and what supports it."""

    answer: Answer


StreamEvent: TypeAlias = AnswerToken | AnswerSources | AnswerDone
"""What `ask --stream-json` sends, one JSON line each: tokens, then sources, then done."""


@dataclass(frozen=True)
class CopyFrom:
    """Texts an answer must be copied from: a run of words of a source, or a whole reply.

    An answer is a copy when, case and runs of spaces aside, it starts at a word of one of
    the `sources` and follows it character for character (trailing punctuation aside), or
    when it is one of the `replies` (such as "The context does not say.").
    """

    sources: tuple[str, ...]
    replies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prompt:
    """What is sent to the LLM: completion text, or chat messages for a chat template."""

    text: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    stop: tuple[str, ...] = ()

    @property
    def is_chat(self) -> bool:
        """Whether this prompt goes through the model's chat template."""
        return bool(self.messages)


@dataclass(frozen=True)
class Completion:
    """A whole generated answer and how likely the model found it.

    `logprob` is the sum of the log-probabilities of its tokens and of the token that ended
    it (None from a backend that does not report them); `looped` says generation was cut
    at a repetition loop, `text` then holds what came before it.
    """

    text: str
    logprob: float | None
    tokens: int
    looped: bool = False


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings for one answer."""

    max_tokens: int
    temperature: float


@dataclass
class Timings:
    """Where the time of a session went, in seconds."""

    load_s: float = 0.0
    retrieve_s: float = 0.0
    generate_s: float = 0.0
    per_question: list[float] = field(default_factory=list)
