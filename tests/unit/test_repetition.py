"""The loop guard: repeated units of any length up to 100 characters, and what is kept."""

from __future__ import annotations

import pytest

from ragcli.llm.repetition import MAX_UNIT_CHARS, find_loop


@pytest.mark.parametrize(
    "text",
    [
        "1" + "0" * 40,
        "ab" * 12,
        "Islamists are not Islamic. They are not Muslims. They are not Muslims. They are not "
        "Muslims. They are",
        "- No es aditivo.\n- No es aditivo.\n- No es aditivo.\n- No es aditivo.\n- No",
        "The list: 1. alpha 2. beta " + "3. gamma delta epsilon " * 3,
        ("x" * 99 + " ") * 3,
    ],
)
def test_loops_of_any_unit_length_are_found(text: str) -> None:
    assert find_loop(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "33 billion.",
        "It has 100000000 parameters.",
        "| --- | --- | --- |",
        "ha ha ha",
        "New York, New York",
        "Grok-0, Grok-1 and Grok-1.5 are models.",
        ("y" * (MAX_UNIT_CHARS + 20) + " ") * 3,  # a unit longer than the guard looks for
    ],
)
def test_ordinary_text_is_not_a_loop(text: str) -> None:
    assert find_loop(text) is None


def test_a_phrase_loop_keeps_the_answer_before_it() -> None:
    loop = find_loop(
        "Islamists are not Islamic. They are not Muslims. They are not Muslims. "
        "They are not Muslims. They are not"
    )
    assert loop is not None and loop.usable
    assert loop.kept.startswith("Islamists are not Islamic. They are not Muslims")
    assert loop.kept.count("Muslims") == 1


def test_a_list_item_loop_keeps_one_item() -> None:
    loop = find_loop("- No es aditivo.\n- No es aditivo.\n- No es aditivo.\n- No es aditivo.")
    assert loop is not None and loop.usable
    assert loop.kept.count("aditivo") == 1


def test_a_digit_run_leaves_nothing_usable() -> None:
    loop = find_loop("The model has 1" + "0" * 30)
    assert loop is not None and not loop.usable


def test_punctuation_loop_keeps_the_words() -> None:
    loop = find_loop("33 billion" + "!" * 20)
    assert loop is not None and loop.usable and loop.kept.startswith("33 billion")
