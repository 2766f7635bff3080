"""The `rag` command: exit codes, messages, JSON shapes; fake backends via the registry."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ragcli.errors import ExitCode
from tests.conftest import run_rag as run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DOCS = ROOT / "sample_docs"
FAKE = ["--model", "fake:"]
Capture = pytest.CaptureFixture[str]


def run_process(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m ragcli ARGS` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


@pytest.fixture
def store(tmp_path: Path, capsys: Capture) -> Path:
    """A store of sample_docs built with the fake embedder."""
    path = tmp_path / "store"
    code, out, _ = run(
        capsys, "ingest", str(SAMPLE_DOCS), "--store", str(path), "--embed-model", "fake:64"
    )
    assert code == 0, out
    return path


def test_ingest_reports_files_and_chunks(store: Path, capsys: Capture) -> None:
    code, out, _ = run(capsys, "status", "--store", str(store), "--json")
    status = json.loads(out)
    assert code == 0
    assert status["documents"] == 6
    assert status["chunks"] == status["embedded"] == status["indexed"] > 6
    assert status["embedder"] == "fake:64"
    assert status["hnsw"] == {"m": 32, "ef_construction": 200, "ef_search": 256}


def test_reingest_unchanged_adds_nothing(store: Path, capsys: Capture) -> None:
    before = json.loads(run(capsys, "status", "--store", str(store), "--json")[1])
    code, out, _ = run(capsys, "ingest", str(SAMPLE_DOCS), "--store", str(store))
    after = json.loads(run(capsys, "status", "--store", str(store), "--json")[1])
    assert code == 0
    assert "6 unchanged" in out
    assert after["chunks"] == before["chunks"] and after["indexed"] == before["indexed"]


def test_changed_file_replaces_its_chunks(tmp_path: Path, capsys: Capture) -> None:
    doc = tmp_path / "docs" / "note.txt"
    doc.parent.mkdir()
    doc.write_text("Zebras are striped.\n\nOwls hunt at night.\n")
    store = str(tmp_path / "store")
    run(capsys, "ingest", str(doc.parent), "--store", store, "--embed-model", "fake:64")
    doc.write_text("Penguins cannot fly.\n")
    code, out, _ = run(capsys, "ingest", str(doc.parent), "--store", store)
    assert code == 0 and "1 changed" in out
    code, out, _ = run(capsys, "ask", "Can penguins fly?", "--store", store, *FAKE, "--json")
    answer = json.loads(out)
    assert [s["text"] for s in answer["sources"]] == ["Penguins cannot fly."]


def test_ask_json_shape(store: Path, capsys: Capture) -> None:
    code, out, err = run(
        capsys,
        "ask",
        "How many parameters does Grok-0 have?",
        "--store",
        str(store),
        *FAKE,
        "--json",
        "--top-k",
        "3",
    )
    answer = json.loads(out)
    assert code == 0, err
    assert set(answer) == {
        "question",
        "answer",
        "answerable",
        "grounded",
        "evidence",
        "strategy",
        "sources",
    }
    assert answer["question"] == "How many parameters does Grok-0 have?"
    assert answer["answer"] and answer["strategy"] == "sequence"
    evidence = answer["evidence"]
    assert answer["grounded"] is True and set(evidence) == {
        "passage",
        "path",
        "page",
        "line",
        "sentence",
        "start_char",
        "end_char",
    }
    # The answer is a span of the file, at the offsets and on the line the evidence gives.
    if evidence["page"] is None:
        text = Path(evidence["path"]).read_text()
        assert text[evidence["start_char"] : evidence["end_char"]] == answer["answer"]
        assert answer["answer"] in text.splitlines()[evidence["line"] - 1]
    assert answer["answer"] in evidence["sentence"]
    assert 1 <= len(answer["sources"]) <= 3
    for source in answer["sources"]:
        assert source["store"] == "store"  # the store's directory name
        assert set(source) == {
            "number",
            "store",
            "path",
            "page",
            "start_line",
            "end_line",
            "heading",
            "score",
            "cited",
            "text",
            "ocr",
        }
        assert source["ocr"] is False
        assert Path(source["path"]).is_file()
        assert 1 <= source["start_line"] <= source["end_line"]
        if source["page"] is None:  # the lines given are those the passage's text came from
            lines = Path(source["path"]).read_text().splitlines()
            first = lines[source["start_line"] - 1]
            assert source["text"].split("\n")[0].strip() in first
    assert [s["number"] for s in answer["sources"]] == list(range(1, len(answer["sources"]) + 1))
    assert any(s["path"].endswith("grok-announcement.md") for s in answer["sources"])


def test_ask_text_streams_answer_then_sources(store: Path, capsys: Capture) -> None:
    code, out, err = run(capsys, "ask", "What does HNSW stand for?", "--store", str(store), *FAKE)
    assert code == 0
    answer, _, sources = out.partition("\nSources:\n")
    assert answer.strip()
    assert "vector-search.pdf, page" in sources
    assert err == ""


@pytest.mark.parametrize("strategy", ["sequence", "packed"])
def test_text_answer_quotes_its_evidence(store: Path, capsys: Capture, strategy: str) -> None:
    code, out, err = run(
        capsys,
        "ask",
        "How many parameters does Grok-0 have?",
        "--store",
        str(store),
        *FAKE,
        "--strategy",
        strategy,
        "--top-k",
        "2",
    )
    assert code == 0, err
    answer, quote = out.splitlines()[:2]
    assert answer.strip()
    assert re.fullmatch(r'  ".+" \[\d\] \(.+:\d+( \[page \d+\])?\)', quote), quote


def test_strict_declines_an_answer_found_in_no_passage(store: Path, capsys: Capture) -> None:
    question = "How many parameters does Grok-0 have? {p1=13B@-0.1}"
    # The fake answers as the question plans only from passages tagged [p1]: none here, so it
    # answers with a sentence of the passage; tag one by planting the tag in a document.
    docs = store.parent / "planted"
    docs.mkdir(exist_ok=True)
    (docs / "grok.md").write_text("Grok-0 is a model with many parameters. [p1]\n")
    planted = str(store.parent / "planted-store")
    assert run(capsys, "ingest", str(docs), "--store", planted, "--embed-model", "fake:64")[0] == 0
    code, out, _ = run(capsys, "ask", question, "--store", planted, *FAKE, "--json")
    loose = json.loads(out)
    assert code == 0 and loose["answer"] == "13B"
    assert loose["grounded"] is False and loose["evidence"] is None
    code, out, _ = run(capsys, "ask", question, "--store", planted, *FAKE)
    assert "(!) not found in the passages" in out
    code, out, _ = run(capsys, "ask", question, "--store", planted, *FAKE, "--json", "--strict")
    strict = json.loads(out)
    assert code == ExitCode.NOT_FOUND and strict["answerable"] is False
    assert strict["answer"] == "The context does not say."


def test_unrelated_question_is_declined(store: Path, capsys: Capture) -> None:
    code, out, _ = run(
        capsys, "ask", "zzzz qqqq", "--store", str(store), *FAKE, "--json", "--min-score", "0.5"
    )
    answer = json.loads(out)
    assert code == ExitCode.NOT_FOUND
    assert answer["answerable"] is False and answer["sources"] == []


def test_no_store_exits_3(tmp_path: Path, capsys: Capture) -> None:
    code, out, err = run(capsys, "ask", "anything", "--store", str(tmp_path / "none"), *FAKE)
    assert code == ExitCode.NO_STORE
    assert out == ""
    assert err.startswith("rag: error: no store at") and err.count("\n") == 1


def test_empty_store_exits_3(tmp_path: Path, capsys: Capture) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    store = str(tmp_path / "store")
    assert run(capsys, "ingest", str(docs), "--store", store, "--embed-model", "fake:8")[0] == 0
    code, _, err = run(capsys, "ask", "anything", "--store", store, *FAKE)
    assert code == ExitCode.NO_STORE
    assert "no indexed chunks" in err


def test_missing_input_path_exits_4_and_keeps_store(store: Path, capsys: Capture) -> None:
    before = run(capsys, "status", "--store", str(store), "--json")[1]
    code, out, err = run(capsys, "ingest", str(SAMPLE_DOCS), "/no/such/dir", "--store", str(store))
    assert code == ExitCode.INPUT_NOT_FOUND
    assert "no such file or directory: /no/such/dir" in err
    assert run(capsys, "status", "--store", str(store), "--json")[1] == before


def test_unreadable_and_unsupported_files(tmp_path: Path, capsys: Capture) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Title\n\nGood text about owls.\n")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (docs / "picture.gif").write_bytes(b"GIF89a")
    code, out, err = run(
        capsys, "ingest", str(docs), "--store", str(tmp_path / "s"), "--embed-model", "fake:16"
    )
    assert code == ExitCode.FILES_SKIPPED
    assert "1 new" in out and "2 skipped" in out
    assert "binary.txt" in err and "looks binary" in err
    assert "picture.gif: unsupported format .gif" in err


def test_embedder_mismatch_is_a_usage_error(store: Path, capsys: Capture) -> None:
    code, _, err = run(
        capsys, "ingest", str(SAMPLE_DOCS), "--store", str(store), "--embed-model", "fake:32"
    )
    assert code == ExitCode.USAGE
    assert "built with embedder 'fake:64'" in err and "rebuild" in err
    code, _, err = run(capsys, "index", "--store", str(store), "--embed-model", "fake:32")
    assert code == ExitCode.USAGE


def test_missing_and_corrupt_model_exit_5(store: Path, tmp_path: Path, capsys: Capture) -> None:
    code, _, err = run(capsys, "ask", "q", "--store", str(store), "--model", "/no/model.gguf")
    assert code == ExitCode.MODEL and "does not exist" in err
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(2000))
    code, _, err = run(capsys, "ask", "q", "--store", str(store), "--model", str(bad))
    assert code == ExitCode.MODEL and "cannot load model" in err
    assert "Traceback" not in err


def test_corrupt_store_exits_9(tmp_path: Path, capsys: Capture) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "store.sqlite3").write_bytes(b"not a database" * 100)
    code, _, err = run(capsys, "status", "--store", str(store))
    assert code == ExitCode.STORE_CORRUPT and "cannot open store database" in err


def test_no_index_defers_embedding(tmp_path: Path, capsys: Capture) -> None:
    store = str(tmp_path / "store")
    run(
        capsys,
        "ingest",
        str(SAMPLE_DOCS),
        "--store",
        store,
        "--embed-model",
        "fake:64",
        "--no-index",
    )
    status = json.loads(run(capsys, "status", "--store", store, "--json")[1])
    assert status["chunks"] > 0 and status["embedded"] == 0 and status["indexed"] == 0
    code, out, _ = run(capsys, "index", "--store", store)
    status = json.loads(run(capsys, "status", "--store", store, "--json")[1])
    assert code == 0 and f"embedded {status['chunks']} chunks" in out
    assert status["embedded"] == status["indexed"] == status["chunks"]


def test_index_repairs_a_lost_index_file(store: Path, capsys: Capture) -> None:
    (store / "index.faiss").unlink()
    code, out, _ = run(capsys, "index", "--store", str(store))
    assert code == 0 and "embedded 0 chunks, index rebuilt" in out


def test_store_from_environment(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("RAG_STORE", str(store))
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["store"] == str(store)


def test_usage_errors_exit_2(capsys: Capture) -> None:
    assert run(capsys, "ask", "q", "--top-k", "0")[0] == ExitCode.USAGE
    assert run(capsys, "frobnicate")[0] == ExitCode.USAGE


def test_batch_questions_from_stdin(store: Path) -> None:
    questions = "What is HNSW?\n\nWhat is Grok-0?\nWhat is recall?\n"
    done = run_process("ask", "--store", str(store), *FAKE, "--json", stdin=questions)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["question"] for line in lines] == [
        "What is HNSW?",
        "What is Grok-0?",
        "What is recall?",
    ]


def test_help_lists_exit_codes_and_imports_no_heavy_library() -> None:
    probe = (
        "import sys\nfrom ragcli.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'torch', 'faiss', 'sentence_transformers', 'llama_cpp', 'pypdf', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.stdout.strip().endswith("[]"), done.stdout
    assert "Exit codes:" in done.stdout and "130 interrupted" in done.stdout


def test_repetition_loop_is_cut_off_and_not_answerable(store: Path, capsys: Capture) -> None:
    code, out, _ = run(
        capsys,
        "ask",
        "How many parameters does Grok-0 have?",
        "--store",
        str(store),
        "--model",
        "fake:loop",
        "--json",
    )
    answer = json.loads(out)
    assert code == ExitCode.NOT_FOUND
    assert answer["answerable"] is False and "repetition" in answer["answer"]
    code, out, _ = run(
        capsys,
        "ask",
        "How many parameters does Grok-0 have?",
        "--store",
        str(store),
        "--model",
        "fake:loop",
    )
    assert out.splitlines()[0].startswith("(The model's answer broke down into repetition")
    # Streamed (packed), the loop is cut as soon as it shows.
    code, out, _ = run(
        capsys,
        "ask",
        "How many parameters does Grok-0 have?",
        "--store",
        str(store),
        "--model",
        "fake:loop",
        "--strategy",
        "packed",
    )
    assert len(out.splitlines()[0]) < 40 and "repetition" in out


def test_every_writing_command_has_json_output(tmp_path: Path, capsys: Capture) -> None:
    store = str(tmp_path / "store")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nWalruses sleep on ice.\n")
    (docs / "b.md").write_text("# B\n\nZebras graze.\n")
    code, out, _ = run(
        capsys,
        "ingest",
        str(docs),
        "--store",
        store,
        "--embed-model",
        "fake:64",
        "--dry-run",
        "--json",
    )
    assert code == 0
    assert json.loads(out) == {
        "add": [str(docs / "a.md"), str(docs / "b.md")],
        "change": [],
        "remove": [],
        "unchanged": 0,
    }
    code, out, _ = run(
        capsys,
        "ingest",
        str(docs),
        "--store",
        store,
        "--embed-model",
        "fake:64",
        "--json",
        "--no-index",
    )
    report = json.loads(out)
    assert code == 0 and report["added"] == 2 and report["index"] is None
    assert set(report) == {
        "added",
        "changed",
        "unchanged",
        "removed",
        "chunks_added",
        "skipped",
        "index",
    }
    code, out, _ = run(capsys, "index", "--store", store, "--json")
    assert json.loads(out) == {
        "embedded": 2,
        "indexed": 2,
        "rebuilt": True,
        "tombstones_dropped": 0,
        "seconds": json.loads(out)["seconds"],
    }
    code, out, _ = run(capsys, "rm", str(docs / "a.md"), "--store", store, "--json")
    assert json.loads(out) == {"removed": [str(docs / "a.md")], "indexed": 1}
    code, out, _ = run(capsys, "compact", "--store", store, "--json")
    assert json.loads(out)["indexed"] == 1 and json.loads(out)["rebuilt"] is True


def test_config_shows_each_setting_and_its_source(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "rag.toml"
    config.write_text('store = "stores/main"\ntemperature = 0.5\n')
    monkeypatch.setenv("RAG_MODEL", "/models/big.gguf")
    code, out, _ = run(capsys, "config", "--config", str(config), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["config_file"] == str(config) and shown["config_file_exists"]
    settings = shown["settings"]
    assert settings["store"] == {
        "value": str(tmp_path / "stores/main"),
        "source": f"config {config}",
    }
    assert settings["temperature"] == {"value": 0.5, "source": f"config {config}"}
    assert settings["model"] == {"value": "/models/big.gguf", "source": "env RAG_MODEL"}
    assert settings["top_k"] == {"value": 5, "source": "default"}
    assert settings["strategy"] == {"value": "sequence", "source": "default"}
    monkeypatch.setenv("RAG_STRATEGY", "packed")
    code, out, _ = run(capsys, "config", "--config", str(config), "--json")
    assert json.loads(out)["settings"]["strategy"] == {
        "value": "packed",
        "source": "env RAG_STRATEGY",
    }
    monkeypatch.setenv("RAG_STRATEGY", "vote")
    code, _, err = run(capsys, "config", "--config", str(config))
    assert code == ExitCode.USAGE and "RAG_STRATEGY" in err
    monkeypatch.delenv("RAG_STRATEGY")
    code, out, _ = run(capsys, "config", "--config", str(config))
    # The values line up after the longest key, whichever that is.
    assert re.search(r"^temperature +0\.5  \[config ", out, re.MULTILINE)


def test_a_named_config_file_that_is_missing_is_exit_4(tmp_path: Path, capsys: Capture) -> None:
    code, _, err = run(capsys, "status", "--config", str(tmp_path / "nope.toml"))
    assert code == ExitCode.INPUT_NOT_FOUND and "nope.toml" in err


def test_shell_completion_script_is_available(capsys: Capture) -> None:
    code, out, _ = run(capsys, "--show-completion", "bash")
    assert code == 0 and "complete" in out and "rag" in out


def shell(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a bash script in which `rag` is this checkout's `python -m ragcli`."""
    rag = f'rag() {{ {shlex.quote(sys.executable)} -m ragcli "$@"; }}\n'
    return subprocess.run(
        ["bash", "-c", rag + script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def one_error_line(stderr: str) -> str:
    """The one line of stderr, an error; never a traceback or Python's own complaints."""
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rag: error: "), stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [["sources"], ["search", "HNSW"], ["ask", "What is HNSW?", *FAKE, "--json"]],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize("redirect", ["> /dev/full", ">&-"])
def test_stdout_that_takes_nothing_is_one_line_and_exit_10(
    command: list[str], redirect: str, store: Path
) -> None:
    args = " ".join(shlex.quote(a) for a in [*command, "--store", str(store)])
    done = shell(f"rag {args} {redirect}")
    assert done.returncode == ExitCode.NOT_WRITABLE, done.stderr
    line = one_error_line(done.stderr)
    reason = "No space left on device" if "full" in redirect else "stdout is closed"
    assert line.startswith("rag: error: cannot write the results") and reason in line, line


def test_help_to_a_full_device_is_one_line_and_exit_10() -> None:
    done = shell("rag ask --help > /dev/full")
    assert done.returncode == ExitCode.NOT_WRITABLE, done.stderr
    assert "No space left on device" in one_error_line(done.stderr)


def test_a_closed_pipe_still_ends_quietly(store: Path) -> None:
    done = shell(f"rag search HNSW --store {shlex.quote(str(store))} | head -c 1 >/dev/null")
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["ask", *FAKE], ExitCode.USAGE, "give a QUESTION, or '-'"),
        (["ask", "-", *FAKE], ExitCode.INPUT_NOT_FOUND, "cannot read questions: stdin is closed"),
        (["search", "-"], ExitCode.INPUT_NOT_FOUND, "cannot read queries: stdin is closed"),
        (["mcp"], ExitCode.INPUT_NOT_FOUND, "cannot read MCP requests: stdin is closed"),
    ],
    ids=["ask", "ask -", "search -", "mcp"],
)
def test_a_closed_stdin_is_said_in_one_line(
    args: list[str], code: int, said: str, store: Path
) -> None:
    quoted = " ".join(shlex.quote(a) for a in [*args, "--store", str(store)])
    done = shell(f"rag {quoted} <&-")
    assert done.returncode == code, done.stderr
    assert said in one_error_line(done.stderr)


def test_files_from_a_closed_stdin_is_exit_4(tmp_path: Path) -> None:
    store = shlex.quote(str(tmp_path / "store"))
    done = shell(f"rag ingest --files-from - --store {store} --embed-model fake:64 <&-")
    assert done.returncode == ExitCode.INPUT_NOT_FOUND, done.stderr
    assert "cannot read --files-from -: stdin is closed" in one_error_line(done.stderr)


def test_a_model_cache_that_cannot_be_made_is_exit_5_naming_it(store: Path) -> None:
    # /proc takes no new folders: the bundled model has nowhere to be assembled.
    env = {"XDG_CACHE_HOME": "/proc/ragcli-cache"}
    done = run_process("ask", "What is HNSW?", "--store", str(store), env=env)
    assert done.returncode == ExitCode.MODEL, done.stderr
    line = one_error_line(done.stderr)
    assert "cannot create the model cache /proc/ragcli-cache/ragcli/models" in line, line
    assert "--model PATH.gguf" in line
    searched = run_process("search", "HNSW", "--store", str(store), env=env)
    assert searched.returncode == 0 and searched.stderr == "", searched.stderr


@pytest.mark.e2e
def test_a_prompt_state_cache_that_cannot_be_written_is_one_warning(store: Path) -> None:
    from ragcli.bundled import bundled_llm_path
    from ragcli.locations import model_cache_dir

    model = bundled_llm_path(model_cache_dir())  # the usual cache, before it is pointed away
    env = {"XDG_CACHE_HOME": "/proc/ragcli-cache"}
    done = run_process(
        "ask",
        "What is HNSW?",
        "--store",
        str(store),
        "--model",
        str(model),
        "--context-only",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "rag: warning: cannot save the model's prompt state in "
        "/proc/ragcli-cache/ragcli/models/prefix-state (No such file or directory); "
        "each run evaluates the prompt start again"
    ]


def test_a_library_warning_is_one_line_under_verbose_and_silent_otherwise(store: Path) -> None:
    ask = ["ask", "What is HNSW?", "--store", str(store), "--model", "fake:warn", "--json"]
    quiet = run_process(*ask)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    verbose = run_process(*ask, "-v")
    warned = [line for line in verbose.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warned) == 1, verbose.stderr
    said = r"rag: RuntimeWarning from fakes\.py:\d+: divide by zero encountered in log"
    assert re.fullmatch(said, warned[0]), warned
    assert all(line.startswith("rag: ") for line in verbose.stderr.splitlines()), verbose.stderr
    assert verbose.stdout == quiet.stdout


NOTHING_TO_LOOK_UP = ["a", "x", "5", "?", "...", "What is it?", "¿Qué?", "é"]


def test_a_question_with_nothing_to_look_up_never_reaches_the_model(
    store: Path, capsys: Capture
) -> None:
    # --min-score -1 lets every passage through the relevance floor, as the passages of a
    # store of a few short notes came through for one-letter questions; fake:crash fails
    # the run (exit 1) if the model is asked at all.
    anything = ["--store", str(store), "--min-score", "-1", "--json"]
    unrelated = ["zzzz qqqq", "--store", str(store), *FAKE, "--json", "--min-score", "0.5"]
    _, out, _ = run(capsys, "ask", *unrelated)
    declined = json.loads(out)
    for question in NOTHING_TO_LOOK_UP:
        code, out, err = run(capsys, "ask", question, *anything, "--model", "fake:crash")
        assert code == ExitCode.NOT_FOUND, err
        answer = json.loads(out)
        assert answer.keys() == declined.keys()
        assert answer["answer"] == "The context does not say." and answer["sources"] == []
        assert answer["answerable"] is False
    code, out, _ = run(capsys, "ask", "¿HNSW?", *anything, *FAKE)
    assert code == 0 and json.loads(out)["answerable"] is True  # a content word goes through


def test_a_batch_of_one_letter_questions_costs_no_model_call(store: Path) -> None:
    letters = "".join(f"{chr(c)}\n" for c in range(ord("a"), ord("z") + 1)) * 8
    done = run_process(
        "ask",
        "-",
        "--store",
        str(store),
        "--model",
        "fake:crash",
        "--min-score",
        "-1",
        "--json",
        stdin=letters + "?\n!\n",
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == 26 * 8 + 2
    assert all(a["answerable"] is False and a["sources"] == [] for a in answers)


def test_an_abstention_looked_at_again_keeps_exit_8_and_its_json_shape(
    store: Path, capsys: Capture
) -> None:
    # The fake declines greedily; ruled out, its likeliest copy is "33 billion" at -2.0.
    question = (
        "How many parameters does Grok-0 have? "
        "{p1=The context does not say.@-0.1} {p1=33 billion@-2.0}"
    )
    docs = store.parent / "second-look"
    docs.mkdir()
    (docs / "grok.md").write_text("Grok-0 has 33 billion parameters. [p1]\n")
    planted = str(store.parent / "second-look-store")
    assert run(capsys, "ingest", str(docs), "--store", planted, "--embed-model", "fake:64")[0] == 0
    ask = ["ask", question, "--store", planted, *FAKE, "--json"]
    code, out, _ = run(capsys, *ask, "--answer-threshold", "-1")
    declined = json.loads(out)
    assert code == ExitCode.NOT_FOUND and declined["answerable"] is False
    assert declined["answer"] == "The context does not say." and declined["evidence"] is None
    code, out, _ = run(capsys, *ask, "--answer-threshold", "-3", "--strict")
    answered = json.loads(out)
    assert code == 0 and answered["answer"] == "33 billion" and answered["grounded"] is True
    assert set(answered) == set(declined)
    code, _, err = run(capsys, *ask, "--answer-threshold", "2")
    assert code == ExitCode.USAGE and "from -1,000 to 1" in err
