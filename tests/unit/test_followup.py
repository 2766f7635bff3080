"""Follow-up questions read in the light of the turns before them (retrieval/followup.py)."""

from __future__ import annotations

import pytest

from ragcli.answering.prompts import DEGENERATE, LAST_ANSWER_WORDS, NOT_FOUND, with_last_turn
from ragcli.records import Turn
from ragcli.retrieval.followup import (
    CARRIED_WEIGHT,
    NAMELESS_SHARE,
    Query,
    as_query,
    continues,
    elliptic,
    names_new,
    resolve,
    topic_words,
)

GROK = ["What did Grok-1 score on HumanEval?"]
APOLLO = ["What disaster killed the Apollo 1 crew?"]


@pytest.mark.parametrize(
    ("question", "earlier"),
    [
        ("And on MMLU?", GROK),  # an ellipsis, even with a name of its own
        ("What about Ukraine?", GROK),
        ("On what date?", GROK),  # too few words of its own to stand alone
        ("Who negotiated the troop withdrawal that helped end it?", GROK),  # a pronoun
        ("How many times did their defense sack Newton in the final?", GROK),
        ("How much lunar rock did the program bring back in all?", ["Who ran the Apollo program?"]),
    ],
)
def test_a_question_that_leans_on_the_earlier_turns_continues_them(
    question: str, earlier: list[str]
) -> None:
    assert continues(question, earlier)


@pytest.mark.parametrize(
    "question",
    [
        "Which Warsaw-born scientist was the first woman to receive the Nobel Prize?",
        "Who formulated the laws of motion that went unimproved for three hundred years?",
        "When did the French and Indian War take place, and who won the war?",
    ],
)
def test_a_question_that_says_enough_on_its_own_starts_a_new_topic(question: str) -> None:
    assert not continues(question, APOLLO)


def test_a_name_is_new_only_when_the_earlier_questions_did_not_use_it() -> None:
    assert names_new("Which Apollo mission landed first?", ["When did Gemini fly?"])
    assert not names_new("Which Apollo mission landed first?", APOLLO)
    assert not names_new("Apollo landed when?", [])  # the first word is capitalised anyway


def test_a_first_question_carries_nothing_and_a_string_is_a_query_of_its_own() -> None:
    assert resolve("What did Grok-1 score on HumanEval?", []) == Query(GROK[0])
    assert as_query("walrus") == Query("walrus") and not Query("walrus").follows_up


def test_a_follow_up_carries_the_topic_questions_and_answers_at_the_lower_weight() -> None:
    history = [Turn(GROK[0], "Grok-1 achieved 63.2% on the HumanEval coding task.")]
    query = resolve("And on MMLU?", history)
    assert query.text == "And on MMLU?" and query.follows_up
    assert query.carried_weight == CARRIED_WEIGHT < 1
    assert GROK[0] in query.carried and "63.2" in query.carried and "coding" in query.carried
    assert resolve("And on MMLU?", history, weight=0.2).carried_weight == 0.2


def test_a_question_naming_a_new_subject_carries_nothing() -> None:
    history = [Turn(GROK[0], "63.2%"), Turn("And on MMLU?", "73%")]
    assert resolve("Which rockets did the Apollo program use?", history) == Query(
        "Which rockets did the Apollo program use?"
    )


def test_a_nameless_question_that_seems_to_stand_alone_carries_a_little() -> None:
    history = [Turn("What is imperialism?", "")]
    query = resolve("Which writer uses the word more broadly than others?", history)
    assert query.carried == "What is imperialism?"
    assert query.carried_weight == pytest.approx(CARRIED_WEIGHT * NAMELESS_SHARE)


def test_the_topic_starts_at_the_last_question_that_named_a_new_subject() -> None:
    history = [
        Turn(GROK[0], "63.2%"),
        Turn("And on MMLU?", "73%"),
        Turn("Which rockets did the Apollo program use?", "Saturn rockets"),
        Turn("Who built them?", ""),
    ]
    carried = topic_words(history)
    assert carried.startswith("Which rockets did the Apollo program use?")
    assert "saturn" in carried and "Who built them?" in carried
    assert "Grok" not in carried and "73" not in carried


def test_only_the_first_words_of_a_long_answer_are_carried() -> None:
    answer = " ".join(f"word{n}" for n in range(40))
    carried = topic_words([Turn("What is it?", answer)])
    assert "word11" in carried and "word12" not in carried


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("And on MMLU?", True),
        ("What about musicians?", True),
        ("On what date?", True),
        ("Confirmed when?", True),
        ("What did it score?", False),  # the pronoun says what it follows
        ("Which model did Grok-0 approach on benchmarks?", False),
    ],
)
def test_a_question_that_leaves_out_what_it_follows_is_elliptic(
    question: str, expected: bool
) -> None:
    assert elliptic(question) is expected


def test_only_an_elliptic_follow_up_is_marked_so() -> None:
    history = [Turn(GROK[0], "63.2%")]
    assert resolve("And on MMLU?", history).elliptic
    assert not resolve("What did it score on MMLU?", history).elliptic
    assert not resolve("And on MMLU?", []).elliptic


def test_the_prompt_shows_an_elliptic_follow_up_after_the_last_exchange() -> None:
    last = Turn(GROK[0], "Grok-1 achieved 63.2% on the HumanEval coding task.")
    assert with_last_turn("And on MMLU?", last) == (
        "What did Grok-1 score on HumanEval? Answer: Grok-1 achieved 63.2% on the HumanEval "
        "coding task. Question: And on MMLU?"
    )
    long = Turn("Why?", " ".join(["word"] * 100))
    assert with_last_turn("And?", long).count("word") == LAST_ANSWER_WORDS


@pytest.mark.parametrize("answer", ["", NOT_FOUND, DEGENERATE])
def test_a_last_turn_without_an_answer_is_not_shown(answer: str) -> None:
    assert with_last_turn("And on MMLU?", Turn(GROK[0], answer)) == "And on MMLU?"
