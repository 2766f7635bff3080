"""Evidence-first reading: sentences scored against the question, windows around the best."""

from __future__ import annotations

import numpy as np
import pytest

from ragcli.answering.evidence import (
    Window,
    evidence_passages,
    score_sentences,
    stem,
)
from ragcli.records import Chunk, Hit


def words(text: str) -> int:
    """A token count for tests: one token a word."""
    return len(text.split())


FILE = (
    "# Towers\n"
    "The Eiffel Tower stands in Paris. It was completed in 1889 for the World's Fair.\n"
    "It is 330 metres tall. Gustave Eiffel's company designed and built the tower.\n"
    "Millions of people visit it every year, and it is lit at night."
)


def hit_of(text: str, start: int, end: int, path: str = "towers.md", score: float = 0.5) -> Hit:
    """A hit on text[start:end] of a file, with its lines counted as the chunker counts them."""
    line = 1 + text.count("\n", 0, start)
    chunk = Chunk(
        text[start:end], path, None, line, line + text.count("\n", start, end), start, end
    )
    return Hit(chunk, score)


def test_stems_meet_across_common_endings() -> None:
    assert stem("invented") == stem("invents") == "invent"
    assert stem("visiting") == stem("visits") == "visit"
    assert stem("ring") == "ring"  # too little left to strip


def test_the_sentence_with_the_questions_rare_words_scores_best() -> None:
    sentences = [
        "The tower is in Paris.",
        "The tower was designed by Gustave Eiffel's company.",
        "The tower is lit at night.",
    ]
    scores = score_sentences("Who designed the tower?", sentences)
    assert max(range(3), key=lambda i: scores[i]) == 1
    # "tower" is in every sentence: it weighs less than "designed", found in one.
    assert scores[0] == scores[2] < scores[1] <= 1.0


def test_a_sentence_scores_by_stem_not_spelling() -> None:
    scores = score_sentences(
        "When was the invention patented?", ["He invented it in 1876.", "It was red."]
    )
    assert scores[0] > scores[1] == 0.0


def test_the_embeddings_cosine_is_added_at_its_weight() -> None:
    def embed(texts: list[str]) -> np.ndarray:
        # The question, then two sentences: the second points the question's way.
        return np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)[: len(texts)]

    sentences = ["Nothing shared here.", "Nothing either."]
    assert score_sentences("Where?", sentences) == [0.0, 0.0]
    assert score_sentences("Where?", sentences, embed, dense_weight=0.5) == [0.0, 0.5]


@pytest.mark.parametrize("budget", [8, 20, 40, 200])
def test_a_window_is_the_files_own_text_around_the_best_sentence(budget: int) -> None:
    hit = hit_of(FILE, FILE.index("The Eiffel"), len(FILE))
    (passage,) = evidence_passages(
        "Who designed the tower?", [hit], words, budget, 3, Window(budget)
    )
    assert "designed" in passage.text
    assert words(passage.text) <= budget
    # Offsets and lines are the file's: the window is a slice of it.
    assert FILE[passage.start_char : passage.start_char + len(passage.text)] == passage.text
    assert passage.start_line == 1 + FILE.count("\n", 0, passage.start_char)
    assert passage.end_line == passage.start_line + passage.text.count("\n")
    assert passage.hits == (hit,)


def test_a_window_grows_before_and_after_the_best_sentence_in_turn() -> None:
    hit = hit_of(FILE, FILE.index("The Eiffel"), len(FILE))
    best = "Gustave Eiffel's company designed and built the tower."
    alone, wider = (
        evidence_passages("Who designed the tower?", [hit], words, n, 3, Window(n))[0].text
        for n in (8, 14)
    )
    assert alone == best
    assert wider == "It is 330 metres tall. " + best  # the one before first


def test_a_sentence_longer_than_the_budget_is_cut_to_whole_words() -> None:
    text = "Alpha beta gamma delta epsilon zeta eta theta iota kappa."
    (passage,) = evidence_passages(
        "What is gamma?", [hit_of(text, 0, len(text))], words, 4, 1, Window(4)
    )
    assert passage.text == "Alpha beta gamma delta"


def test_a_chunk_whose_best_sentence_is_shown_already_gives_way_to_the_next() -> None:
    first = hit_of(FILE, 0, len(FILE), score=0.9)
    overlapping = hit_of(FILE, FILE.index("It is 330"), len(FILE), score=0.8)
    other = hit_of("Big Ben is in London. It was designed by Pugin.", 0, 47, "ben.md", 0.7)
    passages = evidence_passages(
        "Who designed the tower?", [first, overlapping, other], words, 20, 2, Window(20)
    )
    assert [p.path for p in passages] == ["towers.md", "ben.md"]
    assert [p.number for p in passages] == [1, 2]


def test_duplicate_chunks_and_empty_ones_are_passed_over() -> None:
    hit = hit_of(FILE, 0, len(FILE))
    blank = hit_of("   \n  ", 0, 6, "blank.md")
    passages = evidence_passages("How tall is it?", [blank, hit, hit], words, 30, 3, Window(30))
    assert [p.path for p in passages] == ["towers.md"]
    assert "330 metres" in passages[0].text
