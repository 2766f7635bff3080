"""The slash commands of `rag chat`: /sources, /show N, /new, /store NAME, /help."""

from __future__ import annotations

from collections.abc import Callable

from ragcli import output
from ragcli.chat.session import ChatSession
from ragcli.errors import UsageError
from ragcli.records import Answer

# What /help lists, in this order.
COMMANDS = (
    ("/sources", "the sources of the last answer"),
    ("/show N", "passage N of the last answer, whole, with its file and lines"),
    ("/new", "forget the conversation: the next question starts a new one"),
    ("/store NAME", "answer from another store: a name or a directory, a:b for several"),
    ("/help", "this list"),
)
# What a script's piped lines may hold besides questions: the commands that print nothing.
PIPED_COMMANDS = ("/new", "/store")


def is_command(line: str) -> bool:
    """Whether a line is a slash command rather than a question."""
    return line.startswith("/")


def run_command(session: ChatSession, line: str, quiet: bool, piped: bool = False) -> None:
    """Do what a slash command asks; UsageError for an unknown one or a bad argument."""
    word, _, argument = line.partition(" ")
    argument = argument.strip()
    command = _COMMANDS.get(word)
    if command is None:
        raise UsageError(f"unknown command {output.one_line(word)}", "/help lists them")
    if piped and word not in PIPED_COMMANDS:
        raise UsageError(f"{word} works only in a terminal")
    command(session, argument, quiet)


def _help(session: ChatSession, argument: str, quiet: bool) -> None:
    output.write(output.format_chat_help(COMMANDS))


def _new(session: ChatSession, argument: str, quiet: bool) -> None:
    session.new_conversation()
    if not quiet:
        output.note("new conversation")


def _sources(session: ChatSession, argument: str, quiet: bool) -> None:
    answer = _last(session)
    if not answer.passages:
        output.note("the last answer has no sources")
        return
    several = len(session.library.stores) > 1
    output.write(output.format_sources(answer.passages, answer.cited, several).lstrip("\n"))


def _show(session: ChatSession, argument: str, quiet: bool) -> None:
    answer = _last(session)
    numbers = [passage.number for passage in answer.passages]
    if not numbers:
        raise UsageError("the last answer has no sources to show")
    wanted = int(argument) if argument.isdigit() else None
    passage = next((p for p in answer.passages if p.number == wanted), None)
    if passage is None:
        shown = ", ".join(str(number) for number in numbers)
        raise UsageError(f"/show takes the number of a source of the last answer: {shown}")
    several = len(session.library.stores) > 1
    output.write(output.format_passage(passage, passage.number in answer.cited, several))


def _store(session: ChatSession, argument: str, quiet: bool) -> None:
    if argument:
        session.switch_stores(argument)
    if not quiet or not argument:
        stores = ", ".join(output.display_path(str(path)) for path in session.library.stores)
        output.note(f"answering from {stores}")


def _last(session: ChatSession) -> Answer:
    answer = session.last
    if answer is None:
        raise UsageError("no answer yet: ask a question first")
    return answer


_COMMANDS: dict[str, Callable[[ChatSession, str, bool], None]] = {
    "/sources": _sources,
    "/show": _show,
    "/new": _new,
    "/store": _store,
    "/help": _help,
}
