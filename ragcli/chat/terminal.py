"""`rag chat` at a terminal: questions and slash commands typed, answers written as they form.

Ctrl-C stops the answer being written (the question is not added to the conversation) and
the session goes on; at the prompt it clears the line. Ctrl-D on an empty line leaves.
"""

from __future__ import annotations

import sys
from types import ModuleType

from ragcli import output
from ragcli.chat.history import LineHistory
from ragcli.chat.session import ChatSession
from ragcli.chat.slash import is_command, run_command
from ragcli.errors import RagError
from ragcli.locations import chat_history_path
from ragcli.settings import as_flag

PROMPT = "> "


def run_terminal(session: ChatSession, as_json: bool, quiet: bool, verbose: bool) -> None:
    """Read and answer lines until Ctrl-D; a failed question or command is said, not fatal."""
    readline = _line_editing()
    history = LineHistory(chat_history_path(), readline)
    history.load()
    if not quiet:
        output.note("chatting: /help lists the commands, Ctrl-D leaves")
    while True:
        line = _read_line(readline)
        if line is None:
            return
        history.save_new()
        line = line.strip()
        if not line:
            continue
        try:
            if is_command(line):
                run_command(session, line, quiet)
            else:
                _answer(session, line, as_json, verbose)
        except KeyboardInterrupt:  # the answer stops; the models are ready for the next one
            output.write("\n")
            output.note("answer stopped")
        except RagError as exc:
            output.error(exc.spelled(as_flag))


def _answer(session: ChatSession, question: str, as_json: bool, verbose: bool) -> None:
    """Answer one question: text as it forms, then support and sources (or one JSON turn)."""
    if as_json:
        answer = session.ask(question)
        output.print_json(output.turn_json(answer, session.number, session.turn))
    else:
        renderer = output.TextAnswer(heading=False, show_store=len(session.library.stores) > 1)
        answer = session.ask(question, on_text=renderer.on_text)
        renderer.end(question, answer)
        output.write("\n")
    timings = session.library.timings
    if verbose and timings.per_question:
        output.note(f"question took {timings.per_question[-1]:.2f} s")


def _read_line(readline: ModuleType | None) -> str | None:
    """The next line typed, or None at Ctrl-D; Ctrl-C at the prompt gives an empty line."""
    # Without readline stdout is not the terminal: the prompt goes with the notes, and so
    # does the newline that ends the prompt's line at Ctrl-C or Ctrl-D.
    prompt_to = output.write if readline is not None else _to_stderr
    try:
        if readline is None:
            _to_stderr(PROMPT)
            return input()
        return input(PROMPT)
    except EOFError:
        prompt_to("\n")  # the shell's prompt starts on a line of its own
        return None
    except KeyboardInterrupt:
        prompt_to("\n")
        return ""


def _to_stderr(text: str) -> None:
    output.stderr.print(text, end="", markup=False, highlight=False)


def _line_editing() -> ModuleType | None:
    """readline, when the prompt and the answers share the terminal (and it is installed)."""
    if not sys.stdout.isatty():
        return None
    try:
        import readline
    except ImportError:  # a Python built without it: lines are read, just not edited
        return None
    return readline
