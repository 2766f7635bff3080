"""Questions and queries as users give them: bounded in size, valid text, one a line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ragcli.errors import UsageError

# A question or query longer than this is refused: no real question is that long, and the
# embedder reads only its first 256 word pieces anyway. The model's own limit (the prompt
# must fit its context with a passage and the answer) is checked in tokens when answering.
MAX_QUESTION_CHARS = 4000
_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class QuestionLine:
    """One line of a batch on stdin: its text, or why it was refused."""

    number: int
    text: str | None
    problem: str | None = None


def check_question(text: str, what: str = "question") -> str:
    """Return the question stripped; UsageError when it is empty, too long or not text."""
    problem = question_problem(text, what)
    if problem is not None:
        raise UsageError(problem)
    return text.strip()


def question_problem(text: str, what: str = "question") -> str | None:
    """Why a question cannot be used, or None."""
    if len(text) > MAX_QUESTION_CHARS:
        return (
            f"the {what} is {len(text):,} characters long; at most {MAX_QUESTION_CHARS:,} are read"
        )
    if not text.strip():
        return f"the {what} is empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes the shell passed that are not UTF-8
        return f"the {what} is not valid UTF-8 text"
    if "\x00" in text:
        return f"the {what} holds a NUL character"
    return None


def read_questions(stream: BinaryIO, what: str = "question") -> Iterator[QuestionLine]:
    """Yield the non-blank lines of a byte stream, each bounded, decoded and checked.

    A line is read in bounded pieces: one longer than the limit is refused and the rest
    of it skipped without being held, so neither a huge line nor an endless stream
    without newlines makes memory grow.
    """
    limit = MAX_QUESTION_CHARS * 4 + 2  # UTF-8 takes at most 4 bytes a character
    number = 0
    while True:
        raw = stream.readline(limit)
        if not raw:
            return
        number += 1
        if not raw.endswith(b"\n") and len(raw) >= limit:
            while True:  # skip the rest of the oversized line
                rest = stream.readline(_READ_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield QuestionLine(
                number,
                None,
                f"line {number}: the {what} is longer than {MAX_QUESTION_CHARS:,} characters",
            )
            continue
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            yield QuestionLine(number, None, f"line {number}: the {what} is not valid UTF-8")
            continue
        if not text:
            continue
        problem = question_problem(text, what)
        if problem is not None:
            yield QuestionLine(number, None, f"line {number}: {problem}")
        else:
            yield QuestionLine(number, text)
