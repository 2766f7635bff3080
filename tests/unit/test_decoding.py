"""Greedy decoding and continuation scoring over a small fake token session."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from ragcli.llm.decoding import greedy_decode, log_softmax, score_continuation
from ragcli.records import GenerationSettings, Prompt

VOCAB = ["<s>", "</s>", " ", "a", "b", "c", "\n", "x", "q", ":"]


class CharSession:
    """One token per character; the next token follows a fixed script with known logits."""

    def __init__(self, script: str, confidence: float = 3.0) -> None:
        self.script = script
        self.confidence = confidence
        self.cached: list[int] = []
        self.evaluated = 0  # tokens evaluated, to check the cache is used

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        return ([0] if add_bos else []) + [VOCAB.index(ch) for ch in text]

    def detokenize(self, tokens: list[int]) -> bytes:
        return "".join(VOCAB[t] for t in tokens if t > 1).encode()

    def is_end(self, token: int) -> bool:
        return token == 1

    def evaluate(self, tokens: list[int], logits_from: int) -> Any:
        keep = 0
        while keep < min(len(self.cached), logits_from) and self.cached[keep] == tokens[keep]:
            keep += 1
        self.evaluated += len(tokens) - keep
        self.cached = list(tokens)
        return np.stack([self._logits(tokens[: i + 1]) for i in range(logits_from, len(tokens))])

    def _logits(self, seen: list[int]) -> Any:
        """Favour the script's next character after the prompt; else the end token."""
        text = self.detokenize(seen).decode()
        marker = text.find(":")
        done = len(text) - marker - 1
        logits = np.zeros(len(VOCAB), dtype=np.float32)
        wanted = self.script[done] if 0 <= done < len(self.script) else None
        logits[VOCAB.index(wanted) if wanted else 1] = self.confidence
        return logits


def expected_logprob(confidence: float, steps: int) -> float:
    row = np.zeros(len(VOCAB))
    row[0] = confidence
    return steps * float(log_softmax(row)[0])


def test_greedy_decode_follows_the_most_likely_tokens_and_sums_their_logprobs() -> None:
    session = CharSession(" ab\nx")
    done = greedy_decode(session, Prompt(text="q:", stop=("\n",)), GenerationSettings(16, 0.0))
    assert done.text == "ab" and not done.looped
    # " ", "a", "b" and the "\n" that stopped it: four tokens at the same confidence.
    assert done.logprob == pytest.approx(expected_logprob(3.0, 4))


def test_greedy_decode_stops_at_the_end_token() -> None:
    done = greedy_decode(CharSession(" cab"), Prompt(text="q:"), GenerationSettings(16, 0.0))
    assert done.text == "cab"
    assert done.logprob == pytest.approx(expected_logprob(3.0, 5))


def test_greedy_decode_stops_at_max_tokens() -> None:
    done = greedy_decode(CharSession("abcabcabc"), Prompt(text="q:"), GenerationSettings(2, 0.0))
    assert done.text == "ab" and done.tokens == 2


def test_greedy_decode_cuts_a_loop_at_once() -> None:
    done = greedy_decode(CharSession("a" * 64), Prompt(text="q:"), GenerationSettings(64, 0.0))
    assert done.looped and done.tokens < 20 and done.text == ""  # a letter run: nothing kept


def test_each_step_evaluates_only_the_new_token() -> None:
    session = CharSession(" abc")
    greedy_decode(session, Prompt(text="q:"), GenerationSettings(16, 0.0))
    # The prompt's 3 tokens (<s>, q, :) once, then each of the 4 generated tokens once.
    assert session.evaluated == 3 + 4


def test_score_continuation_matches_the_decoded_logprob() -> None:
    session = CharSession(" ab\n")
    decoded = greedy_decode(session, Prompt(text="q:", stop=("\n",)), GenerationSettings(8, 0.0))
    assert score_continuation(session, "q:", " ab\n") == pytest.approx(decoded.logprob)


def test_an_unlikely_continuation_scores_lower() -> None:
    session = CharSession(" ab\n")
    likely = score_continuation(session, "q:", " ab\n")
    unlikely = score_continuation(session, "q:", " ba\n")
    assert unlikely < likely


def test_log_softmax_is_normalised() -> None:
    row = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    assert math.fsum(np.exp(log_softmax(row))) == pytest.approx(1.0)
