"""Decoding that may only copy the passage: the constraint, the beam search, the strategy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ragcli.answering.base import AnswerSettings
from ragcli.answering.prompts import NOT_FOUND
from ragcli.answering.sequence import SequenceSettings, SequenceStrategy
from ragcli.llm.branching import BranchTable, sequences_for
from ragcli.llm.copying import CopyConstraint
from ragcli.llm.decoding import (
    COPY_BEAMS,
    copy_decode,
    greedy_decode,
    log_softmax,
    score_continuation,
)
from ragcli.records import Chunk, Completion, CopyFrom, GenerationSettings, Hit, Prompt
from tests.fakes import ExtractiveLLM

GROK = "Grok-1, our model. Grok-0 is a prototype with 33 billion parameters."


@pytest.mark.parametrize(
    ("text", "grows"),
    [
        ("", True),
        (" 3", True),
        (" 33 bill", True),
        (" 33  Billion", True),  # case and runs of spaces aside
        (" 1,", True),  # "Grok-1,": a word may start after a hyphen
        (" 33 billion.", True),  # trailing punctuation after whole words
        (" 63.2 billion", False),
        (" 10", False),
        (" rok", False),  # not from a word's start
        (" The context does", True),  # the abstention reply
    ],
)
def test_which_partial_answers_may_grow_into_a_copy(text: str, grows: bool) -> None:
    assert CopyConstraint(CopyFrom((GROK,), (NOT_FOUND,))).may_continue(text) is grows


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        (" 33 billion", True),
        (" 33 billion.", True),
        (" 33 bill", False),  # not a whole word
        (" 3", False),
        ("", True),  # an empty answer is an abstention, judged as one
        (" The context does not say.", True),
        (" The context does not", False),
        (" Grok-0", True),
    ],
)
def test_which_answers_are_finished_copies(text: str, ends: bool) -> None:
    assert CopyConstraint(CopyFrom((GROK,), (NOT_FOUND,))).may_end(text) is ends


# A model over a few multi-character tokens whose next-token logits depend on the text
# generated so far: it wants "1" then a run of zeros (not in the passage), while the copy
# it finds most likely as a whole is "33 billion".
VOCAB = ["<s>", "</s>", "q", ":", "\n", " ", "1", "0", ",", "3", " billion", "x"]
WANTS = {
    "": {" ": 6.0},
    " ": {"1": 3.0, "3": 2.0},
    " 1": {"0": 6.0, ",": -1.0},
    " 1,": {"\n": 0.0},
    " 3": {"3": 6.0},
    " 33": {" billion": 6.0},
    " 33 billion": {"\n": 6.0},
}


class TableSession:
    """Tokens from VOCAB; logits from WANTS (-8 for what it does not name)."""

    def __init__(self) -> None:
        self.evaluated = 0

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        tokens, rest = ([0] if add_bos else []), text
        while rest:
            match = max((v for v in VOCAB[2:] if rest.startswith(v)), key=len)
            tokens.append(VOCAB.index(match))
            rest = rest[len(match) :]
        return tokens

    def detokenize(self, tokens: list[int]) -> bytes:
        return "".join(VOCAB[t] for t in tokens if t > 1).encode()

    def is_end(self, token: int) -> bool:
        return token == 1

    def evaluate(self, tokens: list[int], logits_from: int) -> Any:
        self.evaluated += 1
        return np.stack([self._logits(tokens[: i + 1]) for i in range(logits_from, len(tokens))])

    def _logits(self, seen: list[int]) -> Any:
        text = self.detokenize(seen).decode()
        answer = text[text.find(":") + 1 :]
        wanted = {"0": 6.0} if answer.startswith(" 10") else WANTS.get(answer, {})
        logits = np.full(len(VOCAB), -8.0, dtype=np.float32)
        for piece, logit in wanted.items():
            logits[VOCAB.index(piece)] = logit
        return logits


PROMPT = Prompt(text="q:", stop=("\n",))
SOURCE = CopyFrom((GROK,), (NOT_FOUND,))
SETTINGS = GenerationSettings(max_tokens=12, temperature=0.0)


def test_greedy_decoding_runs_into_digits_the_passage_does_not_have() -> None:
    done = greedy_decode(TableSession(), PROMPT, SETTINGS)
    assert done.text.startswith("1000")  # no phrase of the passage


def test_the_copy_search_finds_the_copy_the_model_finds_most_likely() -> None:
    session = TableSession()
    done = copy_decode(session, PROMPT, SOURCE, SETTINGS)
    assert done.text == "33 billion" and not done.looped
    # The model's own log-probability of the answer and the line break that ended it.
    assert done.logprob == pytest.approx(score_continuation(session, "q:", " 33 billion\n"))


def test_one_hypothesis_commits_to_the_first_token_and_copies_poorly() -> None:
    # Why the search keeps several: greedy under the constraint takes "1", then "Grok-1,".
    done = copy_decode(TableSession(), PROMPT, SOURCE, SETTINGS, beams=1)
    assert done.text == "1,"


def test_the_copy_search_stops_once_no_open_hypothesis_can_win() -> None:
    session = TableSession()
    copy_decode(session, PROMPT, SOURCE, SETTINGS)
    assert session.evaluated <= 4 * 5  # beams x steps to "33 billion\n", not max_tokens


def test_the_copy_search_returns_the_likeliest_copy_when_none_ends_in_time() -> None:
    done = copy_decode(TableSession(), PROMPT, SOURCE, GenerationSettings(3, 0.0))
    assert done.text == "33" and done.logprob is not None


def test_log_softmax_rows_are_what_the_search_adds() -> None:
    row = TableSession()._logits([0, 2, 3])
    assert float(np.exp(log_softmax(row)).sum()) == pytest.approx(1.0)


class CopyingLLM(ExtractiveLLM):
    """Proposes a fixed answer; its copy search returns a fixed copy, and counts its calls."""

    def __init__(self, proposal: Completion, copied: Completion | None) -> None:
        super().__init__("fake:copying")
        self.proposal, self.copied, self.searches = proposal, copied, 0

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        return self.proposal

    def copy(
        self, prompt: Prompt, source: CopyFrom, settings: GenerationSettings
    ) -> Completion | None:
        assert source.replies == (NOT_FOUND,) and "33 billion" in source.sources[0]
        self.searches += 1
        return self.copied


def answer(llm: CopyingLLM, **settings: Any) -> Any:
    chunk = Chunk(GROK, "grok.md", None, 1, 1, 0, len(GROK))
    strategy = SequenceStrategy(
        llm,
        AnswerSettings(GenerationSettings(max_tokens=32, temperature=0.0), False, 1.0, 0.0),
        SequenceSettings(**settings),
    )
    return strategy.answer("How many parameters does Grok-0 have?", [Hit(chunk, 0.9)], None)


def test_an_answer_that_is_no_phrase_of_the_passage_is_searched_among_its_copies() -> None:
    llm = CopyingLLM(Completion("63.2 billion", -1.0, 4), Completion("33 billion", -2.0, 4))
    done = answer(llm)
    assert llm.searches == 1
    assert done.text == "33 billion" and done.grounded


def test_a_loop_is_searched_among_the_copies() -> None:
    looped = Completion("", -9.0, 32, looped=True)
    llm = CopyingLLM(looped, Completion("33 billion", -2.0, 4))
    assert answer(llm).text == "33 billion" and llm.searches == 1


def test_a_copied_or_paraphrased_answer_and_an_abstention_are_kept_as_given() -> None:
    kept = ("33 billion", "a prototype of 33B parameters", NOT_FOUND)
    for proposal in (Completion(text, -1.0, 4) for text in kept):
        llm = CopyingLLM(proposal, Completion("Grok-1", -0.1, 2))
        answer(llm)
        assert llm.searches == 0


def test_a_backend_that_cannot_search_keeps_its_answer_for_grounding_to_judge() -> None:
    llm = CopyingLLM(Completion("63.2 billion", -1.0, 4), None)
    done = answer(llm)
    assert done.text == "63.2 billion" and not done.grounded and llm.searches == 1


def test_the_copy_search_can_be_turned_off_for_the_bench() -> None:
    llm = CopyingLLM(Completion("63.2 billion", -1.0, 4), Completion("33 billion", -2.0, 4))
    assert answer(llm, copy_search=False).text == "63.2 billion" and llm.searches == 0


class BranchingTableSession(TableSession):
    """TableSession with a cache of sequences, planned by BranchTable as llama.cpp's is.

    Each sequence's logits come from the tokens it holds, so a hypothesis planned from the
    wrong parent, or at the wrong position, scores as a different text.
    """

    def __init__(self, sequences: int = sequences_for(COPY_BEAMS)) -> None:
        super().__init__()
        self.sequences = sequences
        self.batches = 0
        self.held: dict[int, list[int]] = {}
        self.table: BranchTable | None = None

    def evaluate_branches(self, head: list[int], branches: list[tuple[int, ...]]) -> list[Any]:
        if self.table is None or self.table.head != tuple(head) or not all(branches):
            rows = [self.evaluate([*head, *b], len(head) + len(b) - 1)[-1] for b in branches]
            self.table, self.held = BranchTable(head, self.sequences), {0: list(head)}
            return rows
        steps = self.table.plan(branches)
        for step in steps:
            assert step.start == len(self.held[step.parent])
            self.held[step.sequence] = [*self.held[step.parent], *step.tokens]
        for sequence in self.table.commit(steps):
            del self.held[sequence]
        self.batches += 1
        return [self._logits(self.held[step.sequence]) for step in steps]

    def end_branches(self) -> None:
        self.table, self.held = None, {}


@pytest.mark.parametrize("beams", [1, 2, 3, 4])
@pytest.mark.parametrize("max_tokens", [1, 2, 3, 5, 12])
def test_the_batched_copy_search_finds_what_the_one_by_one_search_finds(
    beams: int, max_tokens: int
) -> None:
    settings = GenerationSettings(max_tokens, 0.0)
    reference = copy_decode(TableSession(), PROMPT, SOURCE, settings, beams=beams, batched=False)
    batched = BranchingTableSession()
    done = copy_decode(batched, PROMPT, SOURCE, settings, beams=beams)
    assert done == reference  # the same text, log-probability (exactly) and token count
    assert batched.table is None  # the branches are dropped when the search ends


def test_the_batched_copy_search_evaluates_one_batch_a_step() -> None:
    one_by_one, batched = TableSession(), BranchingTableSession()
    copy_decode(one_by_one, PROMPT, SOURCE, SETTINGS, batched=False)
    done = copy_decode(batched, PROMPT, SOURCE, SETTINGS)
    assert done.text == "33 billion"
    # the head once, then one batch a step after the first, instead of one call a hypothesis
    assert batched.evaluated == 1 and batched.batches <= done.tokens
    assert one_by_one.evaluated > batched.evaluated + batched.batches
