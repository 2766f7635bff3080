"""What every answering strategy shares: its interface, its settings, and the last step."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ragcli.answering.grounding import ground
from ragcli.answering.prompts import DEGENERATE, NOT_FOUND
from ragcli.errors import UsageError, every_spelling, setting
from ragcli.llm.base import LLM
from ragcli.records import Answer, GenerationSettings, Hit, Passage, Prompt

OnText = Callable[[str], None]

_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_TRAILING = re.compile(r"[\s.;,:]+$")


@dataclass(frozen=True)
class AnswerSettings:
    """How answers are generated and judged."""

    generation: GenerationSettings
    strict: bool
    # When every passage declines, answer anyway with the likeliest copy of a passage if its
    # log-probability is at least this (sequence only; above 0: never, as before issue 22).
    answer_threshold: float
    # Decline an answer whose probability, marginalised over the passages, is below this
    # (sequence only; 0: never).
    min_confidence: float
    # Tokens kept free between the prompt and the answer, for the model's own special tokens.
    margin_tokens: int = 16


class Strategy(Protocol):
    """One way of answering a question from ranked hits."""

    name: str

    def prepare(self) -> None:
        """Get the model ready before the first question (restore cached prompt state)."""
        ...

    def answer(self, question: str, hits: Sequence[Hit], on_text: OnText | None) -> Answer:
        """Answer from the hits; on_text gets the answer's text (as it comes, if it can)."""
        ...


# Below this many tokens left for passages a prompt has no useful context: a short
# paragraph of prose is 60-100 tokens.
MIN_PASSAGE_TOKENS = 64


def prompt_tokens(llm: LLM, prompt: Prompt) -> int:
    """How many of the model's tokens a prompt takes, completion text or chat messages."""
    return llm.count_tokens(prompt.text or "\n".join(text for _, text in prompt.messages))


def check_room(
    fixed_tokens: int, context_tokens: int, settings: AnswerSettings, answer_tokens: int
) -> None:
    """Refuse settings that leave no room for a passage beside the prompt and the answer.

    Without this the passages would all be dropped and the model asked with no context.
    """
    room = context_tokens - fixed_tokens - answer_tokens - settings.margin_tokens
    if room >= MIN_PASSAGE_TOKENS:
        return
    most = context_tokens - fixed_tokens - settings.margin_tokens - MIN_PASSAGE_TOKENS
    raise UsageError(
        f"max_tokens {answer_tokens} and context_tokens {context_tokens} leave no room for "
        f"passages beside the {fixed_tokens}-token prompt (set by {every_spelling('max_tokens')}; "
        f"{every_spelling('context_tokens')})",
        f"use max_tokens {most} or less" if most >= 1 else "raise context_tokens",
    )


def question_room(
    question: str,
    fixed_tokens: int,
    context_tokens: int,
    settings: AnswerSettings,
    answer_tokens: int,
) -> int:
    """Tokens left for passages once this question is in the prompt; UsageError if none."""
    room = context_tokens - fixed_tokens - answer_tokens - settings.margin_tokens
    if room < MIN_PASSAGE_TOKENS:
        raise question_too_long(fixed_tokens, context_tokens)
    return room


def question_too_long(prompt_tokens: int, context_tokens: int) -> UsageError:
    """The error for a question that leaves no room for any passage."""
    return UsageError(
        f"the question is too long for the model's {context_tokens}-token context: with "
        f"it the prompt takes {prompt_tokens} tokens and no passage fits",
        f"shorten the question or raise {setting('context_tokens')}",
    )


def clean_answer(text: str) -> str:
    """Drop citation marks and trailing punctuation the model adds to a short answer."""
    return _TRAILING.sub("", _CITATION.sub("", text)).strip()


def cited_numbers(text: str, passages: Sequence[Passage]) -> frozenset[int]:
    """Return the passage numbers an answer cites as [n] or [n, m] (only numbers that exist)."""
    numbers = {p.number for p in passages}
    return frozenset(
        int(n)
        for group in re.findall(r"\[(\d+(?:\s*,\s*\d+)*)\]", text)
        for n in group.split(",")
        if int(n) in numbers
    )


def abstains(text: str) -> bool:
    """Whether a generated answer says the passages do not hold the answer."""
    return not text.strip() or NOT_FOUND.rstrip(".").lower() in text.lower()


def finish(
    question: str,
    text: str | None,
    passages: tuple[Passage, ...],
    settings: AnswerSettings,
    strategy: str,
    prefer: int | None = None,
) -> Answer:
    """Ground a generated answer: the exact passage span when there is one, else a verdict.

    None means the generation broke down into a loop with nothing usable before it.
    """
    if text is None:
        return Answer(question, DEGENERATE, passages, answerable=False, strategy=strategy)
    if abstains(text):
        return Answer(question, NOT_FOUND, passages, answerable=False, strategy=strategy)
    short = clean_answer(text)
    grounding = ground(short, passages, prefer, question)
    if not grounding.grounded and settings.strict:
        return Answer(question, NOT_FOUND, passages, answerable=False, strategy=strategy)
    # The passage's own words, on one line even where the span crosses a line break.
    text = " ".join((grounding.span or short).split())
    return Answer(
        question,
        text,
        passages,
        answerable=True,
        evidence=grounding.evidence,
        grounded=grounding.grounded,
        strategy=strategy,
        cited=cited_numbers(text, passages),
    )
