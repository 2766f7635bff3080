"""Questions and queries: bounded, valid text, read from stdin a bounded line at a time."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from ragcli.errors import UsageError
from ragcli.text.questions import MAX_QUESTION_CHARS, check_question, read_questions

ROOT = Path(__file__).resolve().parents[2]


def test_check_question_refuses_empty_huge_nul_and_undecodable() -> None:
    assert check_question("  why?  ") == "why?"
    for bad, said in (
        ("   ", "empty"),
        ("x" * (MAX_QUESTION_CHARS + 1), "characters long"),
        ("a\x00b", "NUL"),
        ("caf\udce9", "not valid UTF-8"),
    ):
        with pytest.raises(UsageError, match=said):
            check_question(bad)


def test_stdin_lines_are_bounded_decoded_and_numbered() -> None:
    data = b"first?\n\n" + b"y" * (MAX_QUESTION_CHARS * 10) + b"\n" + b"bad \xff bytes\nlast?"
    lines = list(read_questions(io.BytesIO(data)))
    assert [(line.number, line.text) for line in lines] == [
        (1, "first?"),
        (3, None),
        (4, None),
        (5, "last?"),
    ]
    assert "longer than" in (lines[1].problem or "")
    assert "not valid UTF-8" in (lines[2].problem or "")


class EndlessZeros(io.RawIOBase):
    """A stream like /dev/zero: no newline ever, no end."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        buffer[:] = bytes(len(buffer))
        self.served += len(buffer)
        if self.served > 64 * 2**20:
            return 0  # end after 64 MiB, so a regression fails instead of hanging
        return len(buffer)


def test_an_endless_line_is_skipped_without_being_held() -> None:
    stream = io.BufferedReader(EndlessZeros())
    lines = read_questions(stream)
    first = next(lines)
    assert first.text is None and "longer than" in (first.problem or "")


def test_batch_goes_on_past_a_refused_line_and_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "store"
    docs = ROOT / "sample_docs"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ragcli",
            "ingest",
            str(docs),
            "--store",
            str(store),
            "--embed-model",
            "fake:32",
            "-q",
        ],
        check=True,
        timeout=120,
    )
    done = subprocess.run(
        [sys.executable, "-m", "ragcli", "search", "-", "--store", str(store), "--json"],
        input=b"grok\n\xff\xfe\nparameters\n",
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.decode().count("\n") == 1 and b"line 2" in done.stderr
    queries = {line.split(b'"query": ')[1].split(b",")[0] for line in done.stdout.splitlines()}
    assert queries == {b'"grok"', b'"parameters"'}
