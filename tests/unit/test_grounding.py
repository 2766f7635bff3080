"""Span grounding: exact, case and punctuation folded, accents, number formats; the verdict."""

from __future__ import annotations

import pytest

from ragcli.answering.grounding import content_words, find_span, ground, sentence_around
from ragcli.records import Passage

FILE_TEXT = (
    "# Grok\n\nGrok is xAI's model.\n\nGrok-0 is a prototype language model with 33 billion "
    "parameters. It was trained in two months.\nGrok-1 scored 63.2% on HumanEval.\n"
)


def passage(
    text: str = FILE_TEXT,
    number: int = 1,
    start: int = 0,
    path: str = "grok.md",
    start_line: int = 1,
) -> Passage:
    return Passage(
        number,
        path,
        None,
        start_line,
        start_line + text.count("\n"),
        "",
        text,
        (),
        start_char=start,
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("33 billion", "33 billion"),
        ("33 Billion", "33 billion"),
        ("33B", "33 billion"),
        ("33,000,000,000", "33 billion"),
        ("33 billion parameters.", "33 billion parameters."),
        ("33 billion parameters!", "33 billion parameters"),
        ("the prototype language model", "prototype language model"),
        ("grok-0", "Grok-0"),
        ("63.2%", "63.2%"),
        ("63.2 %", "63.2"),
        ("two months", "two months"),
    ],
)
def test_answers_are_found_as_exact_spans(answer: str, expected: str) -> None:
    span = find_span(answer, FILE_TEXT)
    assert span is not None
    assert FILE_TEXT[span[0] : span[1]] == expected


@pytest.mark.parametrize(
    ("answer", "text", "expected"),
    [
        ("33 billion", "Grok-0 tiene 33 mil millones de parámetros.", "33 mil millones"),
        ("parametros", "Grok-0 tiene 33 mil millones de parámetros.", "parámetros"),
        ("60000", "Una colmena alberga hasta 60.000 abejas.", "60.000"),
        ("1.5 million", "About 1,500,000 people live there.", "1,500,000"),
        (
            "3.7 million cubic meters",
            "It holds 3.7 million cubic meters of air.",
            "3.7 million cubic meters",
        ),
    ],
)
def test_number_formats_and_accents_match(answer: str, text: str, expected: str) -> None:
    span = find_span(answer, text)
    assert span is not None and text[span[0] : span[1]] == expected


@pytest.mark.parametrize("answer", ["34 billion", "Grok-7", "", "   ", "billion 33"])
def test_absent_answers_have_no_span(answer: str) -> None:
    assert find_span(answer, FILE_TEXT) is None


def test_evidence_is_the_sentence_with_file_line_and_offsets() -> None:
    # The passage starts 7 characters and one line into its file.
    text = FILE_TEXT[7:]
    grounding = ground("33 billion", [passage(text, number=2, start=7, start_line=2)])
    assert grounding.grounded and grounding.span == "33 billion"
    evidence = grounding.evidence
    assert evidence is not None
    assert evidence.passage == 2 and evidence.path == "grok.md"
    assert evidence.sentence == "Grok-0 is a prototype language model with 33 billion parameters."
    assert FILE_TEXT[evidence.start_char : evidence.end_char] == "33 billion"
    assert FILE_TEXT.splitlines()[evidence.line - 1].startswith("Grok-0 is a prototype")


def test_the_preferred_passage_gives_the_evidence() -> None:
    first = passage("Grok-0 has 33 billion parameters.", number=1, path="a.md")
    second = passage("Again: 33 billion parameters.", number=2, path="b.md")
    assert ground("33 billion", [first, second], prefer=2).evidence.path == "b.md"  # type: ignore[union-attr]


def test_invented_names_numbers_and_links_are_not_grounded() -> None:
    for answer in ("34 billion", "It was made by OpenAI", "https://linkedin.com/in/nils", "13B"):
        grounding = ground(answer, [passage()])
        assert not grounding.grounded and grounding.evidence is None, answer


def test_a_paraphrase_with_real_content_words_is_grounded() -> None:
    grounding = ground("a model with 33 billion parameters trained by xAI", [passage()])
    assert grounding.grounded and grounding.span is None
    assert grounding.evidence is not None


def test_content_words_are_numbers_names_and_links() -> None:
    assert content_words("Built by Elon Musk in 2023, see https://x.ai") == [
        "Elon",
        "Musk",
        "2023",
        "https://x.ai",
    ]
    assert content_words("Paris") == []  # a first word is capitalised anyway
    assert content_words("NASA") == ["NASA"]


def test_sentence_around_a_span() -> None:
    text = "First one. Second has the answer here. Third."
    start = text.index("answer")
    begin, end = sentence_around(text, start, start + 6)
    assert text[begin:end] == "Second has the answer here."
