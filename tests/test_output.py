"""Rendering: nothing printed from documents, names or servers can drive the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragcli import output

Capture = pytest.CaptureFixture[str]
ROOT = Path(__file__).resolve().parent.parent


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


def test_json_output_is_valid_and_round_trips_undecodable_names(capsys: Capture) -> None:
    name = os.fsdecode(b"/docs/caf\xe9\x1b.txt")
    output.print_json({"path": name, "text": "\x85\u2028"})
    line = capsys.readouterr().out
    assert "\x1b" not in line and "\x85" not in line and "\u2028" not in line
    assert os.fsencode(json.loads(line)["path"]) == b"/docs/caf\xe9\x1b.txt"


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
