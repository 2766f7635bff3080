"""Answering strategies through the registry's fake LLM: marginalisation, abstention, --strict."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from ragcli.answering.base import AnswerSettings, clean_answer
from ragcli.answering.factory import make_strategy
from ragcli.answering.prompts import DEGENERATE, NOT_FOUND
from ragcli.answering.sequence import SequenceSettings, SequenceStrategy
from ragcli.answering.votes import retrieval_prior
from ragcli.errors import UsageError
from ragcli.llm.factory import make_llm
from ragcli.options import llm_options
from ragcli.records import Chunk, GenerationSettings, Hit
from ragcli.settings import defaults
from tests.fakes import FAKE_LOGP_ABSENT, FAKE_LOGP_IN_PASSAGE

SETTINGS = AnswerSettings(GenerationSettings(max_tokens=32, temperature=0.0), False, 1.0, 0.0)


def hit(text: str, score: float, path: str = "a.md", line: int = 1) -> Hit:
    """A chunk of its own; the fake LLM answers from it as the question's {pN=...} plans."""
    start = line * 1000  # far apart: never merged into one passage
    text = f"{text} [p{line}]"
    chunk = Chunk(text, path, None, line, line, start, start + len(text))
    return Hit(chunk, score)


def plan(question: str, *answers: tuple[int, str, float]) -> str:
    """The question, with the answer and log-probability the fake gives from each passage."""
    return question + " " + " ".join(f"{{p{line}={text}@{logp}}}" for line, text, logp in answers)


def sequence(spec: str = "fake:", **settings: object) -> SequenceStrategy:
    llm = make_llm(spec, llm_options(defaults()), Path("/nonexistent-cache"))
    return SequenceStrategy(llm, SETTINGS, SequenceSettings(**settings))  # type: ignore[arg-type]


def test_the_answer_with_the_highest_marginal_probability_wins() -> None:
    # The best passage proposes "Lyon" but the model is unsure of it; two slightly weaker
    # passages both propose "Paris" with confidence: p(Paris|x) = sum over those two.
    hits = [
        hit("Lyon is large.", 0.90, line=1),
        hit("Paris is the capital.", 0.85, line=2),
        hit("The capital is Paris.", 0.84, line=3),
    ]
    question = plan(
        "What is the capital?", (1, "Lyon", -2.5), (2, "Paris", -0.2), (3, "Paris", -0.3)
    )
    answer = sequence(thorough=False).answer(question, hits, None)
    weights = retrieval_prior([0.90, 0.85, 0.84], 0.1)
    paris = weights[1] * math.exp(-0.2) + weights[2] * math.exp(-0.3)
    lyon = weights[0] * math.exp(-2.5)
    assert paris > lyon > weights[1] * math.exp(-0.2) / 10  # neither alone decides it
    assert answer.text == "Paris" and answer.answerable and answer.grounded
    assert answer.evidence is not None and answer.evidence.passage == 2
    assert answer.strategy == "sequence"


def test_retrieval_weight_decides_between_equally_sure_passages() -> None:
    hits = [hit("Alpha.", 0.95, line=1), hit("Beta.", 0.60, line=2)]
    question = plan("Which?", (1, "Alpha", -0.5), (2, "Beta", -0.5))
    assert sequence().answer(question, hits, None).text == "Alpha"


def test_thorough_decoding_scores_each_answer_under_every_passage() -> None:
    # Passage 1 proposes Lyon; "Paris" is in it too, so thorough decoding gives Paris a
    # share there, while "Lyon" is absent from passage 2.
    hits = [hit("Lyon or Paris.", 0.90, line=1), hit("Paris.", 0.89, line=2)]
    question = plan("q", (1, "Lyon", -1.0), (2, "Paris", -1.0))
    strategy = sequence(thorough=True)
    passages = strategy.passages(question, hits)
    prompts = [strategy._prompt(question, p) for p in passages]
    completions = [strategy.llm.complete(p, strategy.generation) for p in prompts]
    choice = strategy.choose(question, prompts, passages, completions)
    best, abstain = choice.best, choice.abstain
    weights = retrieval_prior([0.90, 0.89], 0.1)
    expected = weights[1] * math.exp(-1.0) + weights[0] * math.exp(FAKE_LOGP_IN_PASSAGE)
    assert best is not None and best.text == "Paris"
    assert best.probability == pytest.approx(expected)
    assert abstain == pytest.approx(math.exp(FAKE_LOGP_ABSENT))  # scored under both
    fast = sequence(thorough=False)
    fast_best = fast.choose(question, prompts, passages, completions).best
    assert fast_best is not None and fast_best.text == "Lyon"  # its own proposal only


def test_does_not_say_is_a_vote_not_the_answer() -> None:
    # One passage abstains with confidence, another answers: abstaining needs 10x the mass.
    hits = [hit("Nothing here.", 0.90, line=1), hit("Paris.", 0.88, line=2)]
    question = plan("What is the capital?", (1, NOT_FOUND, -0.1), (2, "Paris", -0.7))
    answer = sequence().answer(question, hits, None)
    assert answer.text == "Paris" and answer.answerable


def test_abstains_when_every_passage_says_so() -> None:
    hits = [hit("Bees.", 0.9, line=1), hit("More bees.", 0.9, line=2)]
    question = plan("Who kept bees first?", (1, NOT_FOUND, -0.1), (2, NOT_FOUND, -0.2))
    answer = sequence().answer(question, hits, None)
    assert answer.text == NOT_FOUND and not answer.answerable and not answer.grounded


def test_abstains_when_an_answer_is_far_less_likely_than_abstaining() -> None:
    hits = [hit("Bees.", 0.90, line=1), hit("Maybe Rome.", 0.90, line=2)]
    question = plan("Who kept bees first?", (1, NOT_FOUND, -0.05), (2, "Rome", -6.0))
    assert not sequence().answer(question, hits, None).answerable


def test_an_invented_answer_is_marked_and_strict_declines_it() -> None:
    hits = [hit("The model is large.", 0.9)]
    question = plan("How many parameters?", (1, "13B", -0.2))
    loose = sequence().answer(question, hits, None)
    assert loose.text == "13B" and loose.answerable
    assert not loose.grounded and loose.evidence is None
    llm = make_llm("fake:", llm_options(defaults()), Path("/nonexistent-cache"))
    strict = SequenceStrategy(llm, AnswerSettings(SETTINGS.generation, True, 1.0, 0.0))
    answer = strict.answer(question, hits, None)
    assert answer.text == NOT_FOUND and not answer.answerable


def test_an_unsupported_answer_does_not_outvote_a_passage_that_does_not_know() -> None:
    hits = [hit("Nothing on size.", 0.90, line=1), hit("The model is large.", 0.90, line=2)]
    question = plan("How many parameters?", (1, NOT_FOUND, -3.0), (2, "13B", -0.1))
    assert not sequence().answer(question, hits, None).answerable


def test_a_supported_answer_is_preferred_over_a_likelier_invented_one() -> None:
    hits = [
        hit("The model is large.", 0.90, line=1),
        hit("Grok-0 has 33 billion parameters.", 0.88, line=2),
    ]
    question = plan("How many parameters?", (1, "13B", -0.1), (2, "33B", -1.5))
    answer = sequence().answer(question, hits, None)
    assert answer.text == "33 billion" and answer.grounded  # the passage's own words


def test_an_answer_that_only_repeats_the_question_is_no_answer() -> None:
    hits = [hit("LLaMA has 13B parameters.", 0.9)]
    question = plan("What is the capital of Australia?", (1, "Australia", -0.1))
    assert not sequence().answer(question, hits, None).answerable
    kept = [hit("Australia is larger than New Zealand.", 0.9)]
    question = plan("Which is larger, Australia or New Zealand?", (1, "Australia", -0.1))
    assert sequence().answer(question, kept, None).text == "Australia"


def test_a_looping_model_gives_the_breakdown_message() -> None:
    answer = sequence("fake:loop").answer("q?", [hit("Some text.", 0.9)], None)
    assert answer.text == DEGENERATE and not answer.answerable


def test_on_text_receives_the_final_answer() -> None:
    seen: list[str] = []
    sequence().answer(plan("q?", (1, "Paris", -0.1)), [hit("Paris.", 0.9)], seen.append)
    assert seen == ["Paris"]


def test_no_passages_abstains() -> None:
    assert not sequence().answer("q?", [], None).answerable


def test_packed_strategy_grounds_its_streamed_answer() -> None:
    llm = make_llm("fake:", llm_options(defaults()), Path("/nonexistent-cache"))
    packed = make_strategy("packed", llm, SETTINGS)
    pieces: list[str] = []
    answer = packed.answer(
        "How many?", [hit("Grok-0 has 33 billion parameters. More.", 0.9)], pieces.append
    )
    assert "".join(pieces).strip() == "Grok-0 has 33 billion parameters."
    assert answer.grounded and answer.evidence is not None and answer.strategy == "packed"


def test_unknown_strategy_is_a_usage_error() -> None:
    llm = make_llm("fake:", llm_options(defaults()), Path("/nonexistent-cache"))
    with pytest.raises(UsageError):
        make_strategy("vote", llm, SETTINGS)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("330 metres [1].", "330 metres"),
        ("Paris [1, 2]", "Paris"),
        ("33 billion.", "33 billion"),
        ("U.S.", "U.S"),
    ],
)
def test_clean_answer(raw: str, clean: str) -> None:
    assert clean_answer(raw) == clean


def test_retrieval_prior_is_a_softmax() -> None:
    weights = retrieval_prior([0.9, 0.8], 0.1)
    assert sum(weights) == pytest.approx(1.0)
    assert weights[0] / weights[1] == pytest.approx(math.e)


class CountingLLM:
    """The registry's fake LLM, counting the passages it is asked about."""

    def __init__(self) -> None:
        self.inner = make_llm("fake:", llm_options(defaults()), Path("/nonexistent-cache"))
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def complete(self, prompt, settings):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.inner.complete(prompt, settings)


def test_reading_stops_once_the_unread_passages_cannot_change_the_answer() -> None:
    hits = [hit("Paris.", 0.95, line=1), hit("Lyon.", 0.60, line=2), hit("Nice.", 0.55, line=3)]
    llm = CountingLLM()
    strategy = SequenceStrategy(llm, SETTINGS)  # type: ignore[arg-type]
    answer = strategy.answer(
        plan("Capital?", (1, "Paris", -0.05), (2, "Lyon", -0.05), (3, "Nice", -0.05)), hits, None
    )
    assert answer.text == "Paris" and llm.calls == 1
    # Close scores: the second passage could still outweigh the first, so it is read.
    close = [hit("Paris.", 0.90, line=1), hit("Lyon.", 0.895, line=2)]
    llm = CountingLLM()
    strategy = SequenceStrategy(llm, SETTINGS)  # type: ignore[arg-type]
    strategy.answer(plan("Capital?", (1, "Paris", -0.2), (2, "Lyon", -0.2)), close, None)
    assert llm.calls == 2


@pytest.mark.parametrize("name", ["sequence", "packed"])
def test_settings_that_leave_no_room_for_a_passage_are_refused_before_any_question(
    name: str,
) -> None:
    llm = make_llm(
        "fake:",
        replace(llm_options(defaults()), context_tokens=1024),
        Path("/nonexistent-cache"),
    )
    roomy = AnswerSettings(GenerationSettings(max_tokens=200, temperature=0.0), False, 1.0, 0.0)
    make_strategy(name, llm, roomy).prepare()
    greedy = AnswerSettings(GenerationSettings(max_tokens=1000, temperature=0.0), False, 1.0, 0.0)
    strategy = make_strategy(name, llm, greedy)
    said = r"max_tokens 1000 and context_tokens 1024 leave no room for passages"
    with pytest.raises(UsageError, match=said):
        strategy.prepare()


@pytest.mark.parametrize("name", ["sequence", "packed"])
def test_a_question_too_long_for_the_context_is_refused_not_answered_blind(name: str) -> None:
    llm = make_llm(
        "fake:",
        replace(llm_options(defaults()), context_tokens=1024),
        Path("/nonexistent-cache"),
    )
    strategy = make_strategy(name, llm, SETTINGS)
    strategy.prepare()
    question = "why " * 1000
    with pytest.raises(UsageError, match="question is too long"):
        strategy.answer(question, [hit("Owls hunt at night.", 0.9)], None)
