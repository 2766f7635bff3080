"""Conversations (ragcli/conversation.py) over a real store with the `fake:` models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragcli.conversation import Conversation
from ragcli.records import SearchResult, Turn
from ragcli.retrieval.followup import Query
from ragcli.retrieval.retriever import RetrievalSettings, Retriever
from tests.cli.test_library import ANIMALS, open_library, write_docs


def make_store(tmp_path: Path) -> Path:
    store = tmp_path / "animals"
    with open_library(store) as library:
        library.ingest([write_docs(tmp_path / "docs", ANIMALS)])
    return store


def test_each_question_becomes_a_turn_with_the_answer_the_user_saw(tmp_path: Path) -> None:
    told: list[str] = []
    with open_library(make_store(tmp_path)) as library:
        conversation = Conversation(library)
        assert conversation.last is None and conversation.turns == []
        first = conversation.ask("  Where do walruses sleep? ", on_text=told.append)
        second = conversation.ask("What confuses the flies that bite Zebras?")
    assert [turn.question for turn in conversation.turns] == [
        "Where do walruses sleep?",
        "What confuses the flies that bite Zebras?",
    ]
    assert [turn.answer for turn in conversation.turns] == [first, second]
    assert conversation.turns[0].answer_text == first.text == "".join(told)
    assert conversation.last is second
    assert Path(second.passages[0].path).name == "zebra.md"


def test_reset_forgets_the_turns_and_given_turns_are_carried_on(tmp_path: Path) -> None:
    earlier = [Turn("Where do walruses sleep?", "On ice floes.")]
    with open_library(make_store(tmp_path)) as library:
        conversation = Conversation(library, earlier)
        assert conversation.last is None  # the earlier answer was not made here
        conversation.ask("What confuses biting flies?")
        assert len(conversation.turns) == 2 and earlier == [conversation.turns[0]]
        conversation.reset()
    assert conversation.turns == [] and conversation.last is None


TUSKS = {
    "walrus.md": "# Walruses\n\nWalruses sleep on ice floes. Their tusks grow a metre long.\n",
    "elephant.md": (
        "# Elephants\n\nElephants roam the savanna. Elephant tusks grow long: "
        "their tusks grow all their lives, and tusks grow back slowly.\n"
    ),
    "zebra.md": "# Zebras\n\nZebras graze on the savanna; stripes confuse biting flies.\n",
}


@pytest.fixture
def tusks(tmp_path: Path) -> Path:
    store = tmp_path / "tusks"
    with open_library(store) as library:
        library.ingest([write_docs(tmp_path / "tusk-docs", TUSKS)])
    return store


def first_file(found: SearchResult) -> str:
    return Path(found.hits[0].chunk.path).name


def test_a_follow_up_keeps_the_earlier_subject_and_a_switch_drops_it(tusks: Path) -> None:
    history = [Turn("Where do walruses sleep?", "On ice floes.")]
    follow_up = "How long do their tusks grow?"
    with open_library(tusks) as library:
        alone = library.search(follow_up, k=1)
        followed = library.search(follow_up, k=1, history=history)
        switched = library.search("What do zebras graze on?", k=1, history=history)
        conversation = Conversation(library, history)
        answer = conversation.ask(follow_up)
    assert first_file(alone) == "elephant.md"  # on its own, the question means elephants
    assert first_file(followed) == "walrus.md" and followed.query == follow_up
    assert first_file(switched) == "zebra.md"
    assert Path(answer.passages[0].path).name == "walrus.md"
    elliptic = conversation.ask("And their length?")  # asked after the last exchange
    assert elliptic.question == "And their length?"
    assert Path(elliptic.passages[0].path).name == "walrus.md"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_each_mode_reads_a_follow_up_in_the_light_of_the_history(tusks: Path, mode: str) -> None:
    history = [Turn("Where do walruses sleep?")]
    with open_library(tusks) as library:
        found = library.search("How long do their tusks grow?", k=1, mode=mode, history=history)
    assert first_file(found) == "walrus.md"


def test_carried_words_count_their_weight_in_bm25_and_in_the_query_vector(tusks: Path) -> None:
    settings = RetrievalSettings(mode="hybrid")
    with Retriever([tusks], settings, None) as retriever:
        searcher = retriever.searchers[0]
        own = dict(searcher.keyword_search("tusks", 10))
        carried = dict(searcher.keyword_search("walruses floes", 10))
        both = dict(searcher.keyword_search(Query("tusks", "walruses floes tusks", 0.25), 10))
        assert set(both) == set(own) | set(carried)
        for chunk_id, score in both.items():
            expected = own.get(chunk_id, 0.0) + 0.25 * carried.get(chunk_id, 0.0)
            assert score == pytest.approx(expected)
        question, earlier = searcher.embed("tusks"), searcher.embed("walruses floes")
        mixed = searcher.embed(Query("tusks", "walruses floes", 0.25))
        expected_vector = question + 0.25 * earlier
        expected_vector /= np.linalg.norm(expected_vector)
        assert np.allclose(mixed, expected_vector, atol=1e-6)
        assert np.allclose(searcher.embed(Query("tusks", "walruses floes", 0.0)), question)
