"""The second look at an abstention, through the registry's fake LLM with planned log-probs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragcli.answering.base import AnswerSettings
from ragcli.answering.evidence import Window
from ragcli.answering.prompts import NOT_FOUND
from ragcli.answering.second_look import second_look
from ragcli.answering.sequence import SequenceSettings, SequenceStrategy
from ragcli.answering.votes import retrieval_prior
from ragcli.llm.factory import make_llm
from ragcli.options import llm_options
from ragcli.records import GenerationSettings
from ragcli.settings import KEYS, defaults
from tests.unit.test_answering import hit, plan

GENERATION = GenerationSettings(max_tokens=32, temperature=0.0)


def strategy(threshold: float, strict: bool = False) -> SequenceStrategy:
    llm = make_llm("fake:", llm_options(defaults()), Path("/nonexistent-cache"))
    return SequenceStrategy(llm, AnswerSettings(GENERATION, strict, threshold, 0.0))


# Every passage declines greedily (-0.1); with abstaining ruled out, the likeliest copy of
# passage 1 is "Paris" at log-probability -2.0 (of passage 2, "Lyon" at -6.0).
HITS = [hit("The capital is Paris.", 0.90, line=1), hit("Lyon is large.", 0.80, line=2)]
QUESTION = plan(
    "What is the capital?",
    (1, NOT_FOUND, -0.1),
    (1, "Paris", -2.0),
    (2, NOT_FOUND, -0.1),
    (2, "Lyon", -6.0),
)


def test_the_second_look_scores_the_likeliest_copy_with_the_retrieval_prior() -> None:
    sequence = strategy(-3.0)
    passages = sequence.passages(QUESTION, HITS)
    look = sequence.reconsider(QUESTION, passages)
    weights = retrieval_prior([0.90, 0.80], 0.1)
    assert look is not None and look.text == "Paris" and look.passage == 1
    assert look.logprob == pytest.approx(math.log(weights[0] * math.exp(-2.0)))


def test_an_answer_above_the_threshold_replaces_the_abstention() -> None:
    answer = strategy(-3.0).answer(QUESTION, HITS, None)
    assert answer.text == "Paris" and answer.answerable and answer.grounded
    assert answer.evidence is not None and answer.evidence.passage == 1


def test_an_answer_below_the_threshold_leaves_the_abstention() -> None:
    # log(p(z=1|x) * e^-2) is about -2.3: below -2.0, so the model's abstention stands.
    answer = strategy(-2.0).answer(QUESTION, HITS, None)
    assert answer.text == NOT_FOUND and not answer.answerable and not answer.grounded


def test_a_threshold_above_zero_never_looks_again() -> None:
    sure = plan("What is the capital?", (1, NOT_FOUND, -0.1), (1, "Paris", -0.01))
    assert strategy(1.0).answer(sure, HITS[:1], None).text == NOT_FOUND


def test_strict_keeps_the_second_look_it_is_a_copy_of_a_passage() -> None:
    answer = strategy(-3.0, strict=True).answer(QUESTION, HITS, None)
    assert answer.text == "Paris" and answer.grounded


def test_answers_the_passages_do_not_hold_are_never_taken() -> None:
    # The fake only copies planned answers a passage holds: "Rome" is in none.
    invented = plan("What is the capital?", (1, NOT_FOUND, -0.1), (1, "Rome", -0.5))
    assert strategy(-100.0).answer(invented, HITS[:1], None).text == NOT_FOUND
    sequence = strategy(-100.0)
    passages = sequence.passages(invented, HITS[:1])
    prompts = [sequence._prompt(invented, p) for p in passages]
    assert second_look(sequence.llm, prompts, passages, [1.0], GENERATION) is None


def test_the_threshold_is_one_declared_setting() -> None:
    key = KEYS["answer_threshold"]
    assert key.env == "RAG_ANSWER_THRESHOLD" and key.range is not None
    assert key.range.check(-5) == -5.0
    with pytest.raises(ValueError, match="from -1,000 to 1"):
        key.range.check(2)


def confident(least: float) -> SequenceStrategy:
    llm = make_llm("fake:", llm_options(defaults()), Path("/nonexistent-cache"))
    return SequenceStrategy(llm, AnswerSettings(GENERATION, False, 1.0, least))


# Passage 1 answers "Paris" at log-probability -1.0; its retrieval weight is about 0.73.
SURE = plan("What is the capital?", (1, "Paris", -1.0))


def test_an_answer_carries_its_marginal_probability_as_confidence() -> None:
    answer = confident(0.0).answer(SURE, HITS[:1], None)
    assert answer.text == "Paris" and answer.answerable
    assert answer.confidence == pytest.approx(math.exp(-1.0))  # one passage: weight 1


@pytest.mark.parametrize(("least", "answered"), [(0.0, True), (0.36, True), (0.38, False)])
def test_an_answer_less_likely_than_the_least_confidence_is_declined(
    least: float, answered: bool
) -> None:
    answer = confident(least).answer(SURE, HITS[:1], None)
    assert answer.answerable is answered
    assert answer.text == ("Paris" if answered else NOT_FOUND)
    assert (answer.confidence is not None) is answered


def test_the_least_confidence_is_a_setting_from_0_to_1() -> None:
    key = KEYS["min_confidence"]
    assert key.env == "RAG_MIN_CONFIDENCE" and key.default == 0.0
    assert key.range is not None and (key.range.low, key.range.high) == (0.0, 1.0)


def test_widening_reads_the_chunk_whole_when_every_window_declines() -> None:
    # The window is the sentence sharing the question's words, which does not answer it;
    # the chunk read whole holds the answer (the fake answers the first plan it is tagged
    # for: p2's "Paris" before p1's abstention).
    text = (
        "Which city is the capital of France is a common quiz question [p1]. "
        "Paris, on the river Seine, has been the seat of government since 987 [p2]."
    )
    hits = [hit(text, 0.9, line=1)]
    question = plan("Which city is the capital of France?", (2, "Paris", -0.5))
    question += f" {{p1={NOT_FOUND}@-0.1}}"
    llm = make_llm("fake:", llm_options(defaults()), Path("/nonexistent-cache"))
    settings = AnswerSettings(GENERATION, False, 1.0, 0.0)
    narrow = SequenceStrategy(llm, settings, SequenceSettings(window=Window(22)))
    (window,) = narrow.passages(question, hits)
    assert "[p1]" in window.text and "[p2]" not in window.text
    assert narrow.answer(question, hits, None).text == NOT_FOUND
    wide = SequenceStrategy(llm, settings, SequenceSettings(window=Window(22), widen=True))
    answer = wide.answer(question, hits, None)
    assert answer.text == "Paris" and answer.answerable and answer.grounded
    assert [p.text for p in answer.passages] == [hits[0].chunk.text]  # what it read


def test_a_passage_read_on_can_lift_an_answer_to_the_least_confidence() -> None:
    # Passage 1 weighs about 0.88: "Paris" at e^-1 gives 0.32, short of 0.35, and the unread
    # passage (0.12) could not change which answer wins. Reading stops there unless the
    # answer still needs confidence; passage 2's vote lifts it to about 0.37.
    hits = [hit("The capital is Paris.", 0.9, line=1), hit("Paris is the capital.", 0.7, line=2)]
    question = plan("What is the capital?", (1, "Paris", -1.0), (2, "Paris", -1.0))
    answer = confident(0.35).answer(question, hits, None)
    assert answer.text == "Paris" and answer.confidence == pytest.approx(math.exp(-1.0))
