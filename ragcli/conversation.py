"""A conversation with a library: each question read in the light of the turns before it.

What `rag chat` and `rag serve` keep per conversation::

    from ragcli.conversation import Conversation
    from ragcli.library import Library

    with Library.configured(store="./notes") as library:
        conversation = Conversation(library)
        conversation.ask("What did Grok-1 score on HumanEval?")
        print(conversation.ask("And on MMLU?").text)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ragcli.library import Library
from ragcli.records import Answer, Turn


class Conversation:
    """Turns asked of one library; each question read in the light of the turns before it."""

    def __init__(self, library: Library, turns: Sequence[Turn] = ()) -> None:
        """Start a conversation, or carry on one whose turns (oldest first) are given."""
        self.library = library
        self.turns: list[Turn] = list(turns)

    def ask(self, question: str, on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer a question in the light of the turns so far, and add it as a turn."""
        answer = self.library.ask(question, on_text, history=self.turns)
        self.turns.append(Turn(answer.question, answer.text, answer))
        return answer

    def reset(self) -> None:
        """Forget the turns: the next question starts a new conversation."""
        self.turns.clear()

    @property
    def last(self) -> Answer | None:
        """The latest turn's answer, when this process made it; None before any turn."""
        return self.turns[-1].answer if self.turns else None
