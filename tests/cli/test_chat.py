"""`rag chat`: driven in a real pseudo-terminal (pexpect), and with piped lines as `ask -` is."""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from ragcli.locations import chat_history_path
from tests.cli.test_cli import one_error_line, run_process, shell

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DOCS = ROOT / "sample_docs"
PROMPT = "> "
ANSWER = "Recall is the fraction of relevant items that are retrieved"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of sample_docs built with the fake embedder, shared by the module's tests."""
    path = tmp_path_factory.mktemp("chat") / "store"
    done = run_process("ingest", str(SAMPLE_DOCS), "--store", str(path), "--embed-model", "fake:64")
    assert done.returncode == 0, done.stderr
    return path


def spawn_chat(*args: str) -> pexpect.spawn:
    """Start `rag chat ARGS` in a pseudo-terminal, wide enough that no line wraps."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ragcli", "chat", *args],
        cwd=str(ROOT),
        env={**os.environ, "TERM": "xterm"},
        encoding="utf-8",
        dimensions=(50, 250),
        timeout=60,
    )
    child.expect_exact(PROMPT)
    return child


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """The file a `fake:wait:PATH` model waits for after the first word of an answer."""
    path = tmp_path / "gate"
    yield path
    path.touch()  # a child still waiting goes on, and ends


def leave(child: pexpect.spawn) -> int:
    """Press Ctrl-D at the prompt; return the exit code."""
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, child.signalstatus
    return int(child.exitstatus)


def test_answers_stream_and_slash_commands_work(store: Path, gate: Path) -> None:
    child = spawn_chat(
        "--store", str(store), "--model", f"fake:wait:{gate}", "--strategy", "packed"
    )
    child.sendline("What is recall?")
    child.expect_exact("Recall ")
    # The model waits for the gate after its first word: the rest cannot have been written.
    assert "Sources:" not in child.before + child.buffer
    gate.touch()
    child.expect_exact(ANSWER)
    child.expect_exact("Sources:")
    child.expect_exact(PROMPT)

    child.sendline("/show 1")
    child.expect(r"\[1\] sample_docs/precision-and-recall\.rst, lines? \d+")
    child.expect_exact("Recall is the fraction")
    child.expect_exact(PROMPT)
    child.sendline("/show 9")
    child.expect_exact("rag: error: /show takes the number of a source of the last answer: 1")
    child.sendline("/sources")
    child.expect(r"\[1\] sample_docs/precision-and-recall\.rst")
    child.sendline("/help")
    child.expect_exact("/show N")
    child.expect_exact("/store NAME")
    child.sendline("/nonsense")
    child.expect_exact("rag: error: unknown command /nonsense (/help lists them)")
    child.sendline("/new")
    child.expect_exact("rag: new conversation")
    child.sendline("/sources")
    child.expect_exact("rag: error: no answer yet: ask a question first")
    assert leave(child) == 0


def test_ctrl_c_stops_the_answer_and_the_next_question_is_answered(store: Path, gate: Path) -> None:
    child = spawn_chat(
        "--store", str(store), "--model", f"fake:wait:{gate}", "--strategy", "packed"
    )
    child.sendline("What is recall?")
    child.expect_exact("Recall ")
    child.sendintr()
    child.expect_exact("rag: answer stopped")
    child.expect_exact(PROMPT)
    # The stopped answer is no turn of the conversation.
    child.sendline("/sources")
    child.expect_exact("rag: error: no answer yet: ask a question first")
    gate.touch()
    child.sendline("What is recall?")
    child.expect_exact(ANSWER)
    child.expect_exact("Sources:")
    child.expect_exact(PROMPT)
    child.sendintr()  # at the prompt: a fresh line, no exit
    child.sendline("/sources")
    child.expect(r"\[1\] sample_docs/precision-and-recall\.rst")
    assert leave(child) == 0


def test_history_is_private_and_recalled_by_the_next_session(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no other test's lines
    child = spawn_chat("--store", str(store), "--model", "fake:")
    child.sendline("What is recall?")
    child.expect_exact("Sources:")
    assert leave(child) == 0
    history = chat_history_path()
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert "What is recall?" in history.read_text()

    child = spawn_chat("--store", str(store), "--model", "fake:")
    child.send("\x1b[A")  # the up arrow: the question of the session before
    child.send("\r")
    child.expect_exact(ANSWER)
    child.expect_exact("Sources:")
    assert leave(child) == 0
    assert history.read_text() == "What is recall?\n"  # a recalled line is not kept twice


QUESTIONS = "What is HNSW?\nWhat is recall?\n"


def test_piped_lines_are_answered_as_ask_answers_them(store: Path) -> None:
    # /new between them: each question alone, as `ask -` takes it; /new prints nothing.
    lines = "What is HNSW?\n/new\nWhat is recall?\n"
    chat = run_process("chat", "--store", str(store), "--model", "fake:", stdin=lines)
    ask = run_process("ask", "--store", str(store), "--model", "fake:", stdin=QUESTIONS)
    assert chat.returncode == ask.returncode == 0, chat.stderr
    assert chat.stdout == ask.stdout
    assert "Q: What is HNSW?" in chat.stdout and ANSWER in chat.stdout


def test_piped_lines_are_one_conversation(store: Path) -> None:
    follow_up = "How many parameters does it have?"
    lines = f"What is Grok-0?\n{follow_up}\n"
    chat = run_process("chat", "--store", str(store), "--model", "fake:", "--json", stdin=lines)
    alone = run_process("ask", follow_up, "--store", str(store), "--model", "fake:", "--json")
    assert chat.returncode == 0, chat.stderr
    turn = json.loads(chat.stdout.splitlines()[1])
    # "it" is Grok-0: asked alone, the question finds another document.
    assert Path(turn["sources"][0]["path"]).name == "grok-announcement.md"
    assert Path(json.loads(alone.stdout)["sources"][0]["path"]).name != "grok-announcement.md"


def test_piped_json_is_one_turn_a_line(store: Path) -> None:
    lines = "What is HNSW?\nWhat is recall?\n/new\nWhat is recall?\n"
    chat = run_process("chat", "--store", str(store), "--model", "fake:", "--json", stdin=lines)
    ask = run_process("ask", "--store", str(store), "--model", "fake:", "--json", stdin=QUESTIONS)
    assert chat.returncode == 0, chat.stderr
    turns = [json.loads(line) for line in chat.stdout.splitlines()]
    assert [(t["conversation"], t["turn"]) for t in turns] == [(1, 1), (1, 2), (2, 1)]
    asked = json.loads(ask.stdout.splitlines()[0])
    assert set(turns[0]) == set(asked) | {"conversation", "turn"}
    assert turns[0]["answer"] == asked["answer"] and turns[0]["sources"] == asked["sources"]


def test_piped_commands_that_print_are_refused_as_lines(store: Path) -> None:
    lines = "/sources\nWhat is recall?\n"
    chat = run_process("chat", "--store", str(store), "--model", "fake:", stdin=lines)
    assert chat.returncode == 2
    assert chat.stderr == "rag: error: stdin line 1: /sources works only in a terminal; skipped\n"
    assert ANSWER in chat.stdout


@pytest.fixture(scope="module")
def grok_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the Grok announcement alone."""
    path = tmp_path_factory.mktemp("chat") / "grok"
    grok = str(SAMPLE_DOCS / "grok-announcement.md")
    done = run_process("ingest", grok, "--store", str(path), "--embed-model", "fake:64")
    assert done.returncode == 0, done.stderr
    return path


def test_store_switches_stores_and_a_missing_one_keeps_the_session(
    store: Path, grok_store: Path, tmp_path: Path
) -> None:
    child = spawn_chat("--store", str(store), "--model", "fake:")
    child.sendline(f"/store {tmp_path / 'missing'}")
    child.expect_exact("rag: error: no store at ")
    child.sendline("What is recall?")
    child.expect_exact(ANSWER)
    child.expect_exact(PROMPT)
    child.sendline(f"/store {grok_store}")
    child.expect_exact(f"rag: answering from {grok_store}")
    child.sendline("/store")
    child.expect_exact(f"rag: answering from {grok_store}")
    assert leave(child) == 0


def test_piped_store_line_switches_stores(store: Path, grok_store: Path) -> None:
    lines = f"/store {grok_store}\nWhat is Grok-1?\n"
    chat = run_process("chat", "--store", str(store), "--model", "fake:", "--json", stdin=lines)
    assert chat.returncode == 0, chat.stderr
    (turn,) = [json.loads(line) for line in chat.stdout.splitlines()]
    assert {source["store"] for source in turn["sources"]} == {"grok"}


def test_a_closed_stdin_is_exit_4(store: Path) -> None:
    done = shell(f"rag chat --store {shlex.quote(str(store))} --model fake: <&-")
    assert done.returncode == 4, done.stderr
    assert "stdin is closed" in one_error_line(done.stderr)
