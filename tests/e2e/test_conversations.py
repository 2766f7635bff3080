"""Follow-up questions answered with the real bundled models over sample_docs (issue 24)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragcli.conversation import Conversation
from ragcli.library import Library

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    """sample_docs ingested with the bundled embedder, and the bundled LLM to answer."""
    store = tmp_path_factory.mktemp("conversations") / "store"
    with Library.configured(store=store) as library:
        assert library.ingest([ROOT / "sample_docs"]).report.added == 6
        yield library


def test_an_elliptic_follow_up_is_answered_about_the_earlier_subject(library: Library) -> None:
    conversation = Conversation(library)
    conversation.ask("What did Grok-1 score on HumanEval?")
    answer = conversation.ask("And on MMLU?")
    assert answer.question == "And on MMLU?"
    assert "73" in answer.text and answer.grounded
    assert Path(answer.passages[0].path).name == "grok-announcement.md"
    assert answer.evidence is not None and "Grok-1" in answer.evidence.sentence
    assert "73% on MMLU" in answer.evidence.sentence
    alone = library.ask("And on MMLU?")
    assert "73" not in alone.text  # what the conversation adds


def test_a_pronoun_follow_up_keeps_the_earlier_subject(library: Library) -> None:
    conversation = Conversation(library)
    conversation.ask("What is Grok-0?")
    answer = conversation.ask("How many parameters does it have?")
    assert "33 billion" in answer.text and answer.grounded
    assert all(Path(p.path).name == "grok-announcement.md" for p in answer.passages)
    assert answer.evidence is not None and "Grok-0" in answer.evidence.sentence
    found = library.search("Which model did it approach?", k=1, history=conversation.turns)
    assert "LLaMA 2" in found.hits[0].chunk.text
