"""`rag chat`: its turns as JSON, a passage shown whole (/show N), its help."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragcli.output.answers import answer_json
from ragcli.output.console import display_name, display_path
from ragcli.records import Answer, Passage


def turn_json(answer: Answer, conversation: int, turn: int) -> dict[str, Any]:
    """A turn of `rag chat --json`: the answer as `ask --json` gives it, and where it stands.

    `conversation` counts from 1 and goes up at each `/new`; `turn` is the answer's place in
    its conversation, from 1.
    """
    return {**answer_json(answer), "conversation": conversation, "turn": turn}


def format_passage(passage: Passage, cited: bool, show_store: bool = False) -> str:
    """A passage shown whole: its number, file, page and lines, then its text."""
    where = display_path(passage.path)
    if passage.page is not None:
        where += f", page {passage.page}"
    span = (
        f"line {passage.start_line}"
        if passage.start_line == passage.end_line
        else f"lines {passage.start_line}-{passage.end_line}"
    )
    store = f", store {display_name(passage.store)}" if show_store else ""
    mark = " (cited)" if cited else ""
    heading = f"  {passage.heading}\n" if passage.heading else ""
    return f"[{passage.number}] {where}, {span}{store}{mark}\n{heading}\n{passage.text.strip()}\n"


def format_chat_help(commands: Sequence[tuple[str, str]]) -> str:
    """The slash commands and what each does, then the keys; one line each."""
    width = max(len(usage) for usage, _ in commands)
    lines = [f"  {usage.ljust(width)}  {what}" for usage, what in commands]
    keys = [
        "  Ctrl-C stops the answer being written; Ctrl-D (on an empty line) leaves.",
        "  Anything else is a question, read in the light of the conversation so far.",
    ]
    return "\n".join([*lines, *keys]) + "\n"
