"""ragcli.retrieval.gate: which questions name something to look up."""

from __future__ import annotations

import pytest

from ragcli.retrieval.gate import names_something

NOTHING = [
    "a",
    "x",
    "X",
    "é",
    "5",
    "?",
    "¿?",
    "...",
    "_",
    "What is it?",
    "who are you",
    "Why not?",
    "¿Qué es?",
    "¿Y?",
    "は",  # a lone kana: a particle, not a word
]
SOMETHING = [
    "HNSW",
    "zebras",
    "¿Perros?",  # one Spanish word with content
    "¿Qué es un perro?",
    "猫",  # one CJK ideograph is a word
    "猫は何ですか",
    "고양이",
    "한",
    "ねこ",
    "42",
    "Is 5 prime?",
    "What is C?",  # a capital letter in a longer question names something
    "vitamin C",
    "Grok-0",
]


@pytest.mark.parametrize("question", NOTHING)
def test_a_letter_function_words_or_punctuation_name_nothing(question: str) -> None:
    assert not names_something(question)


@pytest.mark.parametrize("question", SOMETHING)
def test_a_content_word_in_any_script_names_something(question: str) -> None:
    assert names_something(question)
