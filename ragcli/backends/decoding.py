"""Greedy decoding and continuation scoring with log-probabilities, over any token session.

Kept apart from llama.cpp so that the arithmetic is tested with a small fake session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ragcli.backends.repetition import find_loop
from ragcli.records import Completion, GenerationSettings, Prompt

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
