"""Greedy decoding and continuation scoring with log-probabilities, over any token session.

Kept apart from llama.cpp so that the arithmetic is tested with a small fake session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ragcli.llm.copying import CopyConstraint
from ragcli.llm.repetition import find_loop
from ragcli.records import Completion, CopyFrom, GenerationSettings, Prompt

if TYPE_CHECKING:
    from numpy.typing import NDArray


class TokenSession(Protocol):
    """A model's tokenizer and an evaluator that keeps its cache between calls."""

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        """Return the tokens of a text."""
        ...

    def detokenize(self, tokens: list[int]) -> bytes:
        """Return the bytes of tokens."""
        ...

    def is_end(self, token: int) -> bool:
        """Whether the token ends generation (end of sequence or turn)."""
        ...

    def evaluate(self, tokens: list[int], logits_from: int) -> Any:
        """Evaluate tokens; return the logits rows of positions logits_from onwards."""
        ...


@runtime_checkable
class BranchingSession(TokenSession, Protocol):
    """A session that evaluates several continuations of one head in one batch."""

    def evaluate_branches(self, head: list[int], branches: list[tuple[int, ...]]) -> list[Any]:
        """Return the logits row after head + each branch, in the order given."""
        ...

    def end_branches(self) -> None:
        """Forget the branches; the cache keeps the head."""
        ...


def log_softmax(logits: NDArray[np.float32]) -> NDArray[np.float64]:
    """Return log-probabilities from one row of logits, computed stably."""
    row = logits.astype(np.float64)
    peak = float(row.max())
    return row - (peak + float(np.log(np.exp(row - peak).sum())))


def greedy_decode(
    session: TokenSession, prompt: Prompt, settings: GenerationSettings
) -> Completion:
    """Generate until a stop sequence, the end token, a loop or max_tokens.

    With temperature 0 the most likely token is taken at each step; above 0 tokens are
    sampled (seeded) from the tempered distribution. The log-probability is always that of
    the untempered model.
    """
    prompt_tokens = session.tokenize(prompt.text, add_bos=True)
    rng = np.random.default_rng(0)
    logits = session.evaluate(prompt_tokens, len(prompt_tokens) - 1)[-1]
    generated: list[int] = []
    logprob = 0.0
    text = ""
    for _ in range(settings.max_tokens):
        scores = log_softmax(logits)
        token = _choose(scores, settings.temperature, rng)
        logprob += float(scores[token])
        if session.is_end(token):
            return Completion(text.strip(), logprob, len(generated))
        generated.append(token)
        text = session.detokenize(generated).decode("utf-8", errors="ignore")
        stop_at = _first_stop(text, prompt.stop)
        if stop_at is not None:
            return Completion(text[:stop_at].strip(), logprob, len(generated))
        loop = find_loop(text)
        if loop is not None:
            return Completion(
                loop.kept if loop.usable else "", logprob, len(generated), looped=True
            )
        logits = session.evaluate(
            prompt_tokens + generated, len(prompt_tokens) + len(generated) - 1
        )[-1]
    return Completion(text.strip(), logprob, len(generated))


# How many hypotheses a copying search keeps, and how many of each one's most likely next
# tokens it tries for ones that keep the answer a copy.
COPY_BEAMS = 4
COPY_CANDIDATES = 64


@dataclass(frozen=True)
class _Beam:
    tokens: tuple[int, ...]
    logprob: float


def copy_decode(
    session: TokenSession,
    prompt: Prompt,
    copy: CopyFrom,
    settings: GenerationSettings,
    beams: int = COPY_BEAMS,
    batched: bool = True,
) -> Completion:
    """The most likely answer that is a copy of copy's texts, by beam search.

    Greedy decoding commits to its first token: under a copy constraint that is often a
    word the model only wanted as the start of something else ("1" for a run of digits),
    and the copy that follows is poor. A few hypotheses kept side by side find the copy the
    model finds most likely as a whole. Hypotheses end at the end token or a stop
    sequence, and only where the text is a finished copy; the search stops once the best
    finished answer is more likely than every unfinished one (log-probabilities only fall);
    at max_tokens a likelier unfinished copy is returned cut, as greedy decoding cuts.
    The log-probability is the model's own, as in greedy decoding; temperature is ignored.
    A session that can evaluates each step's hypotheses in one batch (`batched`); the
    answer is the same as evaluating them one by one, which stays the reference.
    """
    head = session.tokenize(prompt.text, add_bos=True)
    if batched and isinstance(session, BranchingSession):
        branching = session
        try:
            return _beam_search(
                session,
                copy,
                settings,
                beams,
                lambda branches: branching.evaluate_branches(head, branches),
                prompt.stop,
            )
        finally:
            branching.end_branches()

    def one_by_one(branches: list[tuple[int, ...]]) -> list[Any]:
        rows = []
        for branch in branches:
            tokens = [*head, *branch]
            rows.append(session.evaluate(tokens, len(tokens) - 1)[-1])
        return rows

    return _beam_search(session, copy, settings, beams, one_by_one, prompt.stop)


def _beam_search(
    session: TokenSession,
    copy: CopyFrom,
    settings: GenerationSettings,
    beams: int,
    evaluate: Callable[[list[tuple[int, ...]]], list[Any]],
    stops: tuple[str, ...],
) -> Completion:
    """copy_decode's search, given how to get the logits after each of a step's hypotheses."""
    constraint = CopyConstraint(copy)
    alive = [_Beam((), 0.0)]
    best: tuple[float, str, int] | None = None
    for _ in range(settings.max_tokens):
        grown: list[_Beam] = []
        ordered = sorted(alive, key=lambda b: b.tokens)  # neighbours share cached tokens
        rows = evaluate([beam.tokens for beam in ordered])
        for beam, row in zip(ordered, rows, strict=True):
            scores = log_softmax(row)
            text = _text(session, beam.tokens)
            tried = min(COPY_CANDIDATES, len(scores))
            likely = np.argpartition(scores, -tried)[-tried:]
            taken = 0
            for token in likely[np.argsort(scores[likely])[::-1]]:
                logprob = beam.logprob + float(scores[token])
                if best is not None and logprob <= best[0]:
                    break  # the rest are less likely than an answer already finished
                answer, ended = _grow(session, beam.tokens, int(token), text, stops)
                if ended:
                    if constraint.may_end(answer):
                        best = (logprob, answer, len(beam.tokens) + 1)
                    continue
                if not constraint.may_continue(answer):
                    continue
                grown.append(_Beam((*beam.tokens, int(token)), logprob))
                taken += 1
                if taken == beams:
                    break
        alive = sorted(grown, key=lambda b: b.logprob, reverse=True)[:beams]
        if best is not None:
            alive = [beam for beam in alive if beam.logprob > best[0]]
        if not alive:
            break
    if alive:  # cut at max_tokens while likelier than any finished answer, as greedy is
        top = alive[0]
        return Completion(_text(session, top.tokens).strip(), top.logprob, len(top.tokens))
    if best is None:
        return Completion("", None, 0)
    logprob, text, count = best
    return Completion(text.strip(), logprob, count)


def _text(session: TokenSession, tokens: tuple[int, ...] | list[int]) -> str:
    return session.detokenize(list(tokens)).decode("utf-8", errors="ignore")


def _grow(
    session: TokenSession, tokens: tuple[int, ...], token: int, text: str, stops: tuple[str, ...]
) -> tuple[str, bool]:
    """The answer's text with token added (detokenized once), and whether token ends it.

    The end token ends it as it was; a stop sequence ends it before the stop.
    """
    if session.is_end(token):
        return text, True
    grown = _text(session, (*tokens, token))
    stop_at = _first_stop(grown, stops)
    return (grown, False) if stop_at is None else (grown[:stop_at], True)


def score_continuation(session: TokenSession, prompt: str, continuation: str) -> float:
    """Return log p(continuation | prompt): the sum over its tokens, as the model sees them."""
    head = session.tokenize(prompt, add_bos=True)
    full = session.tokenize(prompt + continuation, add_bos=True)
    shared = 0
    while shared < min(len(head), len(full) - 1) and head[shared] == full[shared]:
        shared += 1
    shared = max(shared, 1)
    rows = session.evaluate(full, shared - 1)
    return float(sum(log_softmax(rows[i])[token] for i, token in enumerate(full[shared:])))


def _choose(scores: NDArray[np.float64], temperature: float, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(scores))
    tempered = scores / temperature
    weights = np.exp(tempered - tempered.max())
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return min(found) if found else None
