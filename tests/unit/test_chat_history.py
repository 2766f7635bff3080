"""The chat's history file: private, bounded, appended line by line (real readline)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ragcli.chat.history import HISTORY_LINES, LineHistory
from ragcli.errors import RagWarning


@pytest.fixture
def readline() -> Iterator[ModuleType]:
    """readline, its in-memory history emptied before and after."""
    module = pytest.importorskip("readline")
    module.clear_history()
    yield module
    module.clear_history()


@pytest.mark.usefixtures("no_umask")
def test_a_new_file_is_the_owners_alone(tmp_path: Path, readline: ModuleType) -> None:
    path = tmp_path / "data" / ".chat_history"
    LineHistory(path, readline).load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_readable_file_is_made_private(tmp_path: Path, readline: ModuleType) -> None:
    path = tmp_path / ".chat_history"
    path.write_text("What is HNSW?\n")
    path.chmod(0o644)
    LineHistory(path, readline).load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert readline.get_history_item(1) == "What is HNSW?"


def test_lines_are_appended_and_the_file_keeps_the_newest(
    tmp_path: Path, readline: ModuleType
) -> None:
    path = tmp_path / ".chat_history"
    path.write_text("".join(f"question {n}\n" for n in range(HISTORY_LINES)))
    history = LineHistory(path, readline)
    history.load()
    history.save_new()  # nothing typed yet: nothing written
    assert len(path.read_text().splitlines()) == HISTORY_LINES
    readline.add_history("What is recall?")
    history.save_new()
    lines = path.read_text().splitlines()
    assert len(lines) == HISTORY_LINES
    assert lines[0] == "question 1" and lines[-1] == "What is recall?"


def test_a_file_that_cannot_be_made_is_one_warning(tmp_path: Path, readline: ModuleType) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    history = LineHistory(blocker / ".chat_history", readline)
    with pytest.warns(RagWarning, match="cannot keep the chat history"):
        history.load()
    readline.add_history("What is recall?")
    history.save_new()  # given up: no second warning, no error
