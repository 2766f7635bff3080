"""Rendering: nothing printed from documents, names or servers can drive the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragcli import output
from tests.conftest import run_rag

Capture = pytest.CaptureFixture[str]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("red \x1b[31mtext\x1b[0m", "red \\x1b[31mtext\\x1b[0m"),
        ("csi \x9b2J and del \x7f", "csi \\x9b2J and del \\x7f"),
        ("back\rover", "back\\x0dover"),
        ("bidi \u202egnp.exe", "bidi \\u202egnp.exe"),
        ("bytes \udcff\udcfe", "bytes \\xff\\xfe"),
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("plain ünïcode 漢字", "plain ünïcode 漢字"),
    ],
)
def test_safe_text_escapes_what_a_terminal_acts_on(raw: str, shown: str) -> None:
    assert output.safe_text(raw) == shown


def test_a_name_with_a_newline_is_quoted_so_it_cannot_forge_lines() -> None:
    shown = output.display_path("/elsewhere/a.txt\nb.txt:1: forged")
    assert "\n" not in shown and shown.startswith('"') and "\\n" in shown
    assert output.display_path('/elsewhere/say "hi"\t.txt') == '"/elsewhere/say \\"hi\\"\\t.txt"'
    assert output.display_path("/elsewhere/plain.txt") == "/elsewhere/plain.txt"


def test_json_output_is_unicode_with_undecodable_bytes_escaped_as_text_shows_them(
    capsys: Capture,
) -> None:
    from pydantic_core import from_json

    name = os.fsdecode(b"/docs/caf\xe9\x1b.txt")
    output.print_json({"path": name, "text": "\x85\u2028", "hits": [{"path": name}]})
    line = capsys.readouterr().out
    assert "\x1b" not in line and "\x85" not in line and "\u2028" not in line
    shown = "/docs/caf\\xe9\x1b.txt"  # the byte as four characters, as safe_text has it
    assert json.loads(line) == {"path": shown, "text": "\x85\u2028", "hits": [{"path": shown}]}
    assert from_json(line.encode("utf-8")) == json.loads(line)  # strict parsers read it too


def test_messages_on_stderr_are_one_escaped_line(capsys: Capture) -> None:
    output.error("server said:\n\x1b]0;owned\x07")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    output.note("file :smile:.txt")
    assert ":smile:" in capsys.readouterr().err


def test_search_and_ask_never_write_raw_escapes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "evil\x1b[2Jname.txt").write_text(
        "The vault code is \x1b]0;pwned\x07 4471 \x1b[31m and \x9b more.\n"
    )
    store = str(tmp_path / "store")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def rag(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "ragcli", *args, "--store", store],
            capture_output=True,
            timeout=120,
            env=env,
            cwd=ROOT,
        )

    assert rag("ingest", str(docs), "--embed-model", "fake:32", "-q").returncode == 0
    for done in (
        rag("search", "vault code"),
        rag("search", "vault code", "--json"),
        rag("ask", "vault code", "--model", "fake:"),
        rag("sources"),
    ):
        assert done.returncode == 0, done.stderr
        for stream in (done.stdout, done.stderr):
            assert b"\x1b" not in stream and b"\x07" not in stream and b"\xc2\x9b" not in stream
    assert b"evil\\x1b[2Jname.txt" in rag("search", "vault code").stdout


def test_the_mcp_output_schemas_have_exactly_the_json_keys() -> None:
    """`rag mcp` publishes these shapes; a key added to --json must be added there too."""
    from ragcli.output import schemas
    from ragcli.output.answers import answer_json, source_json
    from ragcli.output.hits import hit_json
    from ragcli.records import Answer, Chunk, Evidence, Hit, Passage

    chunk = Chunk("Grok-0 has 33 billion parameters.", "a.md", None, 1, 1, 0, 33)
    hit = Hit(chunk, 0.9, dense=0.8, keyword=1.0, store="work")
    passage = Passage(1, "a.md", None, 1, 1, "", chunk.text, (hit,))
    evidence = Evidence(1, "a.md", None, 1, chunk.text, 11, 21)
    answer = Answer("q", "33 billion", (passage,), answerable=True, evidence=evidence)
    assert set(hit_json(hit, "q", 1, "hybrid")) == set(schemas.HitJson.__annotations__)
    assert set(source_json(passage, True)) == set(schemas.SourceJson.__annotations__)
    shown = answer_json(answer)
    assert set(shown) == set(schemas.AnswerJson.__annotations__)
    assert set(shown["evidence"]) == set(schemas.EvidenceJson.__annotations__)


STORE = "two\nlines"  # a store name that would forge a row, were it printed raw
DOC = "note\nforged.md"


@pytest.fixture(scope="module")
def forging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the named stores `two\\nlines` and `plain` (its data directory), both
    holding `docs/note\\nforged.md`, and `more/comet\\nlog.md`, not ingested."""
    root = tmp_path_factory.mktemp("forging")
    docs = root / "docs"
    docs.mkdir()
    (docs / DOC).write_text("# Zebras\n\nZebras have black and white stripes.\n")
    (docs / "tea.md").write_text("Green tea is steamed soon after picking.\n")
    more = root / "more"
    more.mkdir()
    (more / "comet\nlog.md").write_text("A comet grows a tail.\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(root / "data"))
        for store in (STORE, "plain"):
            args = ["ingest", str(docs), "--store", store, "--embed-model", "fake:32", "-q"]
            command = [sys.executable, "-m", "ragcli", *args]
            done = subprocess.run(command, capture_output=True, timeout=300, cwd=ROOT)
            assert done.returncode == 0, done.stderr
    return root


NAMED = ["--store", STORE]
BOTH = ["--store", STORE, "--store", "plain"]
# Each command and the names it prints: store names, and paths under the forging folder.
IN_STORE = "{data}/ragcli/" + STORE
DOC_PATH = "{root}/docs/" + DOC
COMMANDS = {
    "stores": (["stores"], [STORE, IN_STORE]),
    "search": (["search", "zebra stripes", *BOTH], [STORE, DOC_PATH]),
    "ask": (["ask", "What do zebras have?", "--model", "fake:", *BOTH], [STORE, DOC_PATH]),
    "sources": (["sources", *NAMED], [DOC_PATH]),
    "status": (["status", *NAMED], [IN_STORE]),
    "doctor": (["doctor", "--check", *NAMED], [IN_STORE]),
    "config": (["config"], [IN_STORE]),
    "ingest": (["ingest", "{root}/more", "--dry-run", *NAMED], ["{root}/more/comet\nlog.md"]),
}


def strings(document: object) -> list[str]:
    """Every string value in a JSON document."""
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [text for value in document.values() for text in strings(value)]
    if isinstance(document, list):
        return [text for value in document for text in strings(value)]
    return []


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_every_command_prints_names_escaped_one_way(
    forging: Path, command: str, json_out: bool, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names holding a newline, of stores and of files, in every column of every command:
    text shows each as display_name does, JSON as its string; none forges a line."""
    monkeypatch.setenv("XDG_DATA_HOME", str(forging / "data"))
    monkeypatch.setenv("RAG_STORE", STORE)  # the store `rag config` shows
    where = {"root": str(forging), "data": str(forging / "data")}
    args, names = COMMANDS[command]
    args = [arg.format(**where) for arg in args]
    code, out, err = run_rag(capsys, *args, *(["--json"] if json_out else []))
    assert code == 0, err
    for raw in (STORE, DOC, "comet\nlog"):
        assert raw not in out and raw not in err  # never printed with its newline
    for name in (name.format(**where) for name in names):
        if json_out:
            found = strings([json.loads(line) for line in out.splitlines()])
            assert any(name in text for text in found), (name, found)
        else:
            assert output.display_name(name) in out, (output.display_name(name), out)
