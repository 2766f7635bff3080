"""Weigh the passages' answers (RAG-Sequence): pool them by their words, marginalise, pick one.

Each passage read proposes an answer; proposals with the same words are one candidate, whose
marginal probability sums p(z|x) * p(y|x,z) over the passages z it was scored under. A vote
for "The context does not say." is pooled too, as the mass of abstaining.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragcli.answering.base import abstains, clean_answer
from ragcli.answering.grounding import Grounding, ground, tokenize
from ragcli.answering.prompts import NOT_FOUND
from ragcli.records import Completion, Passage, Prompt

# The log-probability of a continuation after a prompt, or None if the backend cannot say.
Score = Callable[[Prompt, str], "float | None"]

_ABSTAIN = "\0abstain"


@dataclass(frozen=True)
class Candidate:
    """One distinct answer and its marginal probability over the passages."""

    text: str
    probability: float
    best_passage: int
    grounded: bool = True


@dataclass(frozen=True)
class Choice:
    """The best answer so far, the mass of abstaining, and of the strongest other answer."""

    best: Candidate | None
    abstain: float
    runner_up: float = 0.0


@dataclass
class Proposals:
    """Each candidate's text and its log-probability under each passage it was scored under."""

    texts: dict[str, str] = field(default_factory=dict)
    logprobs: dict[str, dict[int, float]] = field(default_factory=dict)


def memoised_grounding(
    passages: Sequence[Passage], known: dict[str, Grounding] | None
) -> Callable[[str], Grounding]:
    """Ground answers in the passages, each text once (`known` keeps them between calls)."""
    cache = {} if known is None else known

    def grounding(text: str) -> Grounding:
        if text not in cache:
            cache[text] = ground(text, passages)
        return cache[text]

    return grounding


def pool_proposals(
    question: str, completions: Sequence[Completion], grounding: Callable[[str], Grounding]
) -> Proposals:
    """Pool the answers each passage proposed (the z-th completion is passage z's)."""
    proposals = Proposals()
    asked = {t.key for t in tokenize(question)}
    for z, completion in enumerate(completions):
        key, text = _candidate(completion)
        if key is None:
            continue
        if key != _ABSTAIN and set(key.split()) <= asked and not grounding(text).span:
            # The question's own words, found in no passage: no answer, a vote to abstain.
            key, text = _ABSTAIN, NOT_FOUND
        proposals.texts.setdefault(key, text)
        if completion.logprob is not None:
            proposals.logprobs.setdefault(key, {})[z] = completion.logprob
        else:  # no log-probabilities from this backend: each proposal counts fully
            proposals.logprobs.setdefault(key, {})[z] = 0.0
    return proposals


def score_everywhere(proposals: Proposals, prompts: Sequence[Prompt], score: Score) -> None:
    """Score abstaining and each candidate under the passages that did not propose it.

    Passage by passage, starting from the last one generated, so the model's cache holds
    the passage while all candidates are scored after it.
    """
    proposals.texts.setdefault(_ABSTAIN, NOT_FOUND)
    proposals.logprobs.setdefault(_ABSTAIN, {})
    for z in reversed(range(len(prompts))):
        for key, text in proposals.texts.items():
            if z in proposals.logprobs[key]:
                continue
            continuation = f" {NOT_FOUND if key == _ABSTAIN else text}\n"
            scored = score(prompts[z], continuation)
            if scored is None:
                return
            proposals.logprobs[key][z] = scored


def choose_by_marginal(
    proposals: Proposals,
    weights: Sequence[float],
    passages: Sequence[Passage],
    grounding: Callable[[str], Grounding],
) -> Choice:
    """Pick the supported candidate of highest marginal probability under weights p(z|x)."""
    texts, logprobs = proposals.texts, proposals.logprobs
    marginal = {
        key: sum(weights[z] * math.exp(lp) for z, lp in per_passage.items())
        for key, per_passage in logprobs.items()
    }
    abstain = marginal.pop(_ABSTAIN, 0.0)
    if not marginal:
        return Choice(None, abstain)
    # The most probable answer that the passages support; an invented one only if no
    # answer is supported (finish() then marks it ungrounded).
    ranked = sorted(marginal, key=lambda k: marginal[k], reverse=True)
    key = next((k for k in ranked if grounding(texts[k]).grounded), ranked[0])
    best_z = max(logprobs[key], key=lambda z: weights[z] * math.exp(logprobs[key][z]))
    grounded = grounding(texts[key]).grounded
    runner_up = max((marginal[k] for k in ranked if k != key), default=0.0)
    best = Candidate(texts[key], marginal[key], passages[best_z].number, grounded)
    return Choice(best, abstain, runner_up)


def settled(choice: Choice, unread: float, min_confidence: float, abstain_ratio: float) -> bool:
    """Whether passages of total weight `unread`, not yet read, cannot change the choice.

    Each can add at most its weight p(z|x) to any answer's marginal, so once the best
    supported answer leads every other by more than the unread weight, and abstaining
    could not reach the ratio even with all of it, reading on is wasted time (unless the
    answer is still short of the confidence it needs).
    """
    best = choice.best
    if best is None or not best.grounded:
        return False
    return (
        best.probability >= min_confidence
        and best.probability >= choice.runner_up + unread
        and choice.abstain + unread < abstain_ratio * best.probability
    )


def _candidate(completion: Completion) -> tuple[str | None, str]:
    """The key under which a completion's answer is pooled, and its text."""
    if completion.looped and not completion.text:
        return None, ""
    if abstains(completion.text):
        return _ABSTAIN, NOT_FOUND
    text = clean_answer(completion.text)
    key = " ".join(t.key for t in tokenize(text))
    return (key or None), text


def retrieval_prior(scores: Sequence[float], temperature: float) -> list[float]:
    """p(z|x): a softmax of the passages' retrieval scores at a temperature."""
    if not scores:
        return []
    top = max(scores)
    weights = [math.exp((score - top) / temperature) for score in scores]
    total = sum(weights)
    return [weight / total for weight in weights]
