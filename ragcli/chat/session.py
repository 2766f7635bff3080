"""The library and the conversation one `rag chat` asks, and switching stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ragcli.conversation import Conversation
from ragcli.library import Library
from ragcli.records import Answer
from ragcli.settings import KEYS, Settings, checked


class ChatSession:
    """Questions asked as one conversation of one library, models loaded once.

    `number` counts the conversations of the session (`/new` starts the next one); the turn
    of an answer is its place in the current conversation.
    """

    def __init__(self, settings: Settings, strict: bool = False) -> None:
        self.settings = settings
        self.strict = strict
        self.library = Library(settings, strict=strict)
        self.conversation = Conversation(self.library)
        self.number = 1

    def load(self) -> None:
        """Open the stores and load the models now, before the first question is read."""
        self.library.load(answering=True)

    def ask(self, question: str, on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer a question in the light of the conversation so far, and add it as a turn."""
        return self.conversation.ask(question, on_text)

    @property
    def turn(self) -> int:
        """How many turns the current conversation has."""
        return len(self.conversation.turns)

    @property
    def last(self) -> Answer | None:
        """The latest answer of the current conversation, if any."""
        return self.conversation.last

    def new_conversation(self) -> None:
        """Forget the turns: the next question starts another conversation."""
        self.conversation.reset()
        self.number += 1

    def switch_stores(self, value: str) -> tuple[Path, ...]:
        """Answer from the stores `value` names (as --store reads it) from now on.

        The new stores and models load before the old ones are closed, so a store that
        cannot be opened leaves the session as it was. The conversation goes on.
        """
        stores = checked(KEYS["store"], value, "/store")
        sources = {**self.settings.sources, "store": "/store"}
        settings = replace(self.settings, store=stores[0], stores=stores, sources=sources)
        library = Library(settings, strict=self.strict)
        try:
            library.load(answering=True)
        except BaseException:
            library.close()
            raise
        self.library.close()
        self.settings, self.library = settings, library
        self.conversation = Conversation(library, self.conversation.turns)
        return stores

    def close(self) -> None:
        """Release the stores and models."""
        self.library.close()

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
