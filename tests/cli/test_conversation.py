"""Conversations (ragcli/conversation.py) over a real store with the `fake:` models."""

from __future__ import annotations

from pathlib import Path

from ragcli.conversation import Conversation
from ragcli.records import Turn
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
        second = conversation.ask("What confuses biting flies?")
    assert [turn.question for turn in conversation.turns] == [
        "Where do walruses sleep?",
        "What confuses biting flies?",
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
