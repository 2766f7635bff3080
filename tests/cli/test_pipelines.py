"""The installed `rag` in real bash pipelines, with jq: output contract and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragcli.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(
    not (BIN / "rag").is_file() or shutil.which("jq") is None,
    reason="needs the installed rag script and jq (make test installs both)",
)


def bash(
    script: str, cwd: Path = ROOT, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run a bash pipeline with the venv's rag first on PATH and pipefail on."""
    # XDG_CONFIG_HOME: a folder without ragcli/config.toml, so no user config leaks in.
    environment = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
        "XDG_CONFIG_HOME": str(ROOT / "tests"),
        **(env or {}),
    }
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail\n{script}"],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pipes") / "store"
    done = bash(f"rag ingest sample_docs --store {path} --embed-model fake:64 -q")
    assert done.returncode == 0, done.stderr
    return str(path)


def test_batch_questions_to_jq(store: str) -> None:
    done = bash(
        f"printf 'What is HNSW?\\nWho made Grok?\\n' | rag ask --json --model fake: "
        f"--store {store} | jq -r .answer"
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2 and all(done.stdout.splitlines())


def test_find_print0_into_ingest(tmp_path: Path) -> None:
    store = tmp_path / "store"
    done = bash(
        f"find sample_docs -name '*.md' -print0 | rag ingest --files-from - -0 "
        f"--store {store} --embed-model fake:64 -q --json | jq -r .added && "
        f"rag sources --store {store} --json | jq length"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "2"]


def test_search_head_one_line(store: str) -> None:
    done = bash(f"rag search HNSW --store {store} | head -1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and ".pdf:" in done.stdout and "[page " in done.stdout


def test_answer_redirected_to_a_file_has_no_escape_codes(store: str, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    done = bash(f"rag ask 'What does HNSW stand for?' --model fake: --store {store} > {out}")
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "Sources:" in text and "\x1b" not in text and "\x1b" not in done.stderr


def test_a_closed_stdout_ends_quietly(store: str) -> None:
    done = bash(
        f"yes HNSW | head -300 | rag search - --store {store} | head -c 10; "
        'echo " status=${PIPESTATUS[2]}"'
    )
    assert done.stdout.endswith(" status=0\n"), done.stdout
    assert done.stderr == ""


def test_stream_json_events_end_with_sources_and_done(store: str) -> None:
    done = bash(
        f"rag ask 'What does HNSW stand for?' --stream-json --model fake: "
        f"--store {store} | jq -c -r .type | uniq"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["token", "sources", "done"]
    events = bash(
        f"rag ask 'What does HNSW stand for?' --stream-json --model fake: --store {store}"
    ).stdout.splitlines()
    tokens = "".join(json.loads(e)["text"] for e in events[:-2])
    final = json.loads(events[-1])
    # sequence sends its chosen answer as one token event; it is the final answer.
    assert final["answer"] == tokens.strip() and final["answerable"] is True
    assert final["grounded"] is True and final["evidence"]["sentence"]


def test_quiet_and_verbose_never_touch_stdout(store: str, tmp_path: Path) -> None:
    plain = bash(f"rag ask 'What is HNSW?' --model fake: --store {store} --json")
    verbose = bash(f"rag ask 'What is HNSW?' --model fake: --store {store} --json --verbose")
    assert plain.stdout == verbose.stdout and "took" in verbose.stderr
    quiet = bash(f"rag ingest sample_docs --store {tmp_path / 's'} --embed-model fake:64 -q")
    assert quiet.returncode == 0 and quiet.stderr == "" and "ingested 6 new" in quiet.stdout


def test_no_color_and_a_pseudo_terminal_give_plain_text(store: str) -> None:
    done = bash(f"NO_COLOR=1 script -qec 'rag status --store {store}' /dev/null")
    assert done.returncode == 0 and "\x1b[" not in done.stdout


def test_config_file_and_environment_layer_under_flags(tmp_path: Path, store: str) -> None:
    config = tmp_path / "rag.toml"
    config.write_text(f'store = "{store}"\ntop_k = 2\nmode = "keyword"\nmodel = "fake:"\n')
    env = {"RAG_CONFIG": str(config)}
    done = bash("rag ask 'HNSW graph' --json | jq '.sources | length'", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("1", "2")
    shown = json.loads(bash("RAG_TOP_K=4 rag config --json", env=env).stdout)["settings"]
    assert shown["top_k"] == {"value": 4, "source": "env RAG_TOP_K"}
    assert shown["mode"]["source"] == f"config {config}"
    flagged = bash("RAG_TOP_K=4 rag ask 'HNSW graph' --json -k 1 | jq '.sources | length'", env=env)
    assert flagged.stdout.strip() == "1"
    config.write_text("top_k = 'many'\n")
    bad = bash("rag status", env=env)
    assert bad.returncode == ExitCode.USAGE
    assert bad.stderr.count("\n") == 1 and str(config) in bad.stderr and "top_k" in bad.stderr


def test_every_documented_exit_code(tmp_path: Path, store: str) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nWalruses sleep on ice.\n")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    fresh = tmp_path / "fresh"
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "store.sqlite3").write_bytes(b"not a database" * 100)
    blocked = tmp_path / "blocked"
    (blocked / "lock").mkdir(parents=True)  # a directory where the lock file goes
    cases = {
        ExitCode.OK: f"rag status --store {store}",
        ExitCode.INTERNAL: f"rag ask 'What is HNSW?' --model fake:crash --store {store}",
        ExitCode.USAGE: "rag ask --no-such-flag",
        ExitCode.NO_STORE: f"rag status --store {tmp_path / 'none'}",
        ExitCode.INPUT_NOT_FOUND: f"rag ingest {tmp_path / 'missing'} --store {fresh}",
        ExitCode.MODEL: f"rag ask 'What is HNSW?' --model {tmp_path / 'x.gguf'} --store {store}",
        ExitCode.FILES_SKIPPED: f"rag ingest {docs} --store {fresh} --embed-model fake:64 -q",
        ExitCode.LOCKED: f"flock {store}/lock rag ingest sample_docs --store {store} --no-wait",
        ExitCode.NOT_FOUND: f"rag search xylophone --mode keyword --store {store}",
        ExitCode.STORE_CORRUPT: f"rag status --store {garbage}",
        ExitCode.NOT_WRITABLE: f"rag ingest {docs / 'good.md'} --store {blocked}",
        # Few enough descriptors that opening the store's files runs out of them.
        ExitCode.SYSTEM_LIMIT: f"(ulimit -n 6; rag search HNSW --store {store})",
    }
    for code, script in cases.items():
        done = bash(script)
        assert done.returncode == code, (script, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr
        if code not in (ExitCode.OK, ExitCode.NOT_FOUND):
            assert done.stderr.strip(), script
            said = ("rag: skipped" if code == ExitCode.FILES_SKIPPED else "rag: error:", "Usage:")
            assert any(s in done.stderr for s in said), done.stderr


def test_ctrl_c_exits_130_and_leaves_the_store_consistent(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    process = subprocess.Popen(
        [
            str(BIN / "rag"),
            "ingest",
            str(ROOT / "sample_docs"),
            "--store",
            str(store),
            "--embed-model",
            "fake:64:128:40",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell running the tests in the background ignores SIGINT, and so would rag.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(2.0)  # inside embedding: 40 ms a chunk
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert err.strip() == "rag: error: interrupted"
    status = bash(f"rag status --store {store} --json")
    assert status.returncode == 0, status.stderr
    resumed = bash(f"rag ingest sample_docs --store {store} -q --json | jq .index.embedded")
    assert resumed.returncode == 0 and int(resumed.stdout) > 0
    final = json.loads(bash(f"rag status --store {store} --json").stdout)
    assert final["chunks"] == final["embedded"] and final["tombstones"] == 0
