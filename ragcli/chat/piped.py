"""`rag chat` with piped input: one question a line, all of them one conversation.

The text and JSON are those of `rag ask -`; a JSON turn also says its conversation and turn.
A `/new` line starts another conversation, a `/store NAME` line switches stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ragcli import output
from ragcli.chat.session import ChatSession
from ragcli.chat.slash import is_command, run_command
from ragcli.errors import RagError, UsageError


class NumberedLines(Protocol):
    """The usable lines of piped input, numbered; a refused one is said and counted."""

    refused: int

    def __iter__(self) -> Iterator[tuple[int, str]]: ...

    def refuse(self, number: int, problem: RagError) -> None:
        """Say that a line could not be done; the next one may be."""


def run_piped(session: ChatSession, lines: NumberedLines, as_json: bool) -> int:
    """Answer each line as the next turn; return how many lines were refused."""
    first = True
    for number, text in lines:
        try:
            if is_command(text):
                run_command(session, text, quiet=True, piped=True)
                continue
            if not first and not as_json:
                output.write("\n")
            first = False
            _answer(session, text, as_json)
        except UsageError as exc:  # this line cannot be done; the next may be
            lines.refuse(number, exc)
    return lines.refused


def _answer(session: ChatSession, question: str, as_json: bool) -> None:
    """Answer one line as `rag ask -` would, in the light of the turns before it."""
    if as_json:
        answer = session.ask(question)
        output.print_json(output.turn_json(answer, session.number, session.turn))
        return
    renderer = output.TextAnswer(heading=True, show_store=len(session.library.stores) > 1)
    renderer.begin(question)
    answer = session.ask(question, on_text=renderer.on_text)
    renderer.end(question, answer)
