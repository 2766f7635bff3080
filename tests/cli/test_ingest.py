"""Incremental sync: new, changed, moved, removed and unchanged files; messy folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ragcli.syncing as syncing
from ragcli.errors import ExitCode
from tests.conftest import run_rag as run

ROOT = Path(__file__).resolve().parents[2]
Capture = pytest.CaptureFixture[str]
FAKE_EMBEDDER = ["--embed-model", "fake:64"]


def write_docs(folder: Path, docs: dict[str, str]) -> None:
    for name, text in docs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


DOCS = {
    "zebra.md": "# Zebras\n\nZebras are striped horses of Africa.\n",
    "owl.txt": "Owls hunt mice at night with silent feathers.\n",
    "deep/penguin.md": "# Penguins\n\nPenguins cannot fly but swim fast.\n",
}


@pytest.fixture
def synced(tmp_path: Path, capsys: Capture) -> tuple[Path, str]:
    docs = tmp_path / "docs"
    write_docs(docs, DOCS)
    store = str(tmp_path / "store")
    code, out, err = run(capsys, "ingest", str(docs), "--store", store, *FAKE_EMBEDDER)
    assert code == 0, err
    assert "ingested 3 new" in out
    return docs, store


def status(capsys: Capture, store: str) -> dict[str, object]:
    return dict(json.loads(run(capsys, "status", "--store", store, "--json")[1]))


def ask_paths(capsys: Capture, store: str, question: str) -> list[str]:
    # The packed strategy gives the model (and lists) every retrieved passage.
    code, out, _ = run(
        capsys,
        "ask",
        question,
        "--store",
        store,
        "--model",
        "fake:",
        "--json",
        "--min-score",
        "0",
        "--strategy",
        "packed",
    )
    return [Path(s["path"]).name for s in json.loads(out)["sources"]]


def test_unchanged_files_cost_a_stat_only(
    synced: tuple[Path, str], capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs, store = synced
    reads: list[Path] = []
    real_read = syncing.read_source
    monkeypatch.setattr(syncing, "read_source", lambda p: reads.append(p) or real_read(p))
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store)
    assert code == 0 and reads == []
    assert "0 new and 0 changed files (0 chunks); 3 unchanged" in out
    assert "embedded 0 chunks" in out


def test_touched_file_is_hashed_but_not_reparsed(synced: tuple[Path, str], capsys: Capture) -> None:
    docs, store = synced
    os.utime(docs / "owl.txt", (1, 1))
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store)
    assert "0 new and 0 changed files (0 chunks); 3 unchanged" in out
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store)
    assert "3 unchanged" in out  # the new mtime was recorded


def test_changed_removed_and_new_files(synced: tuple[Path, str], capsys: Capture) -> None:
    docs, store = synced
    (docs / "owl.txt").write_text("Owls sleep during the day in hollow trees.\n")
    (docs / "zebra.md").unlink()
    (docs / "deep" / "lion.md").write_text("# Lions\n\nLions live in prides on the savanna.\n")
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store)
    assert code == 0
    assert "ingested 1 new and 1 changed files" in out and "1 removed" in out
    assert "zebra.md" not in ask_paths(capsys, store, "Zebras are striped horses of Africa")
    assert status(capsys, store)["documents"] == 3


def test_moved_file_reuses_its_embeddings(synced: tuple[Path, str], capsys: Capture) -> None:
    docs, store = synced
    (docs / "deep" / "penguin.md").rename(docs / "penguin-moved.md")
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store)
    assert "ingested 1 new" in out and "1 removed" in out
    assert "embedded 0 chunks" in out
    assert "penguin-moved.md" in ask_paths(capsys, store, "Penguins cannot fly but swim fast")


def test_removed_chunks_never_answer_and_compact_drops_them(
    synced: tuple[Path, str], capsys: Capture
) -> None:
    docs, store = synced
    for number in range(20):
        (docs / f"extra{number}.txt").write_text(f"Filler note number {number} about rivers.\n")
    run(capsys, "ingest", str(docs), "--store", store)
    (docs / "zebra.md").unlink()
    run(capsys, "ingest", str(docs), "--store", store)
    before = status(capsys, store)
    assert before["tombstones"] == 1 and before["indexed"] == before["chunks"]
    sources = ask_paths(capsys, store, "Zebras are striped horses of Africa")
    assert "zebra.md" not in sources and len(sources) == 5
    code, out, _ = run(capsys, "compact", "--store", store)
    after = status(capsys, store)
    assert code == 0 and "removed chunks dropped" in out
    assert after["tombstones"] == 0 and after["indexed"] == after["chunks"]


def test_dry_run_reports_and_changes_nothing(synced: tuple[Path, str], capsys: Capture) -> None:
    docs, store = synced
    (docs / "owl.txt").write_text("Owls changed.\n")
    (docs / "zebra.md").unlink()
    (docs / "new.md").write_text("New text.\n")
    before = status(capsys, store)
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store, "--dry-run")
    assert code == 0
    assert f"add\t{docs / 'new.md'}" in out
    assert f"change\t{docs / 'owl.txt'}" in out
    assert f"remove\t{docs / 'zebra.md'}" in out
    assert "2 to read (new or modified), 1 unchanged, 1 to remove" in out
    assert status(capsys, store) == before


def test_sources_and_rm(synced: tuple[Path, str], capsys: Capture) -> None:
    docs, store = synced
    code, out, _ = run(capsys, "sources", "--store", store, "--json")
    listed = {Path(d["path"]).name: d["chunks"] for d in json.loads(out)}
    assert code == 0 and listed == {"zebra.md": 1, "owl.txt": 1, "penguin.md": 1}
    code, out, _ = run(capsys, "rm", str(docs / "deep"), "--store", store)
    assert code == 0 and "removed 1 documents" in out
    assert "penguin.md" not in ask_paths(capsys, store, "Penguins cannot fly")
    code, _, err = run(capsys, "rm", str(docs / "nothing.md"), "--store", store)
    assert code == ExitCode.INPUT_NOT_FOUND and "no stored document" in err
    assert "3 documents" not in run(capsys, "sources", "--store", store)[1]


def test_a_file_that_breaks_keeps_its_stored_version(
    synced: tuple[Path, str], capsys: Capture
) -> None:
    docs, store = synced
    (docs / "owl.txt").write_bytes(b"\x00\x01 binary now")
    code, out, err = run(capsys, "ingest", str(docs), "--store", store)
    assert code == ExitCode.FILES_SKIPPED and "looks binary" in err
    assert "owl.txt" in ask_paths(capsys, store, "Owls hunt mice at night")


def test_second_writer_waits_or_exits_7(synced: tuple[Path, str], capsys: Capture) -> None:
    docs, store = synced
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(Path(store) / 'lock')!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('held', flush=True); time.sleep(2)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, _, err = run(capsys, "ingest", str(docs), "--store", store, "--no-wait")
        assert code == ExitCode.LOCKED and "being written by another rag process" in err
        assert "owl.txt" in ask_paths(capsys, store, "Owls hunt mice at night")
        code, out, err = run(capsys, "ingest", str(docs), "--store", store)
        assert code == 0 and "waiting for another rag process" in err
    finally:
        holder.wait()


def test_files_from_stdin_lines_and_nul(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, {"a b.md": "Alpha text.\n", "c.txt": "Gamma text.\n", "skip.md": "No.\n"})
    store = str(tmp_path / "store")
    names = f"{docs / 'a b.md'}\n{docs / 'c.txt'}\n"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragcli",
            "ingest",
            "--files-from",
            "-",
            "--store",
            store,
            *FAKE_EMBEDDER,
        ],
        input=names,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ingested 2 new" in done.stdout
    (docs / "new\nline.md").write_text("Delta text.\n")
    done = subprocess.run(
        [sys.executable, "-m", "ragcli", "ingest", "--files-from", "-", "-0", "--store", store],
        input=f"{docs / 'new'}\nline.md\0",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ingested 1 new" in done.stdout


def test_include_and_exclude(tmp_path: Path, capsys: Capture) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, {"a.md": "A.\n", "b.txt": "B.\n", "notes/c.md": "C.\n"})
    store = str(tmp_path / "store")
    code, out, _ = run(
        capsys,
        "ingest",
        str(docs),
        "--store",
        store,
        *FAKE_EMBEDDER,
        "--include",
        "*.md",
        "--exclude",
        "notes/",
    )
    assert code == 0 and "ingested 1 new" in out


def test_messy_folder_reports_each_bad_file_and_keeps_the_good(
    tmp_path: Path, capsys: Capture
) -> None:
    import fpdf

    from tests.conftest import build_pdf

    docs = tmp_path / "messy"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("Outside the tree.\n")
    write_docs(docs, {"good.md": "# Good\n\nKangaroos carry joeys in a pouch.\n"})
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(b"\x7fELF\x00\x00\x01binary")
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me br\xfbl\xe9e recipe.\n".encode("cp1252"))
    (docs / "corrupt.pdf").write_bytes(build_pdf(["Some text."])[:300])
    (docs / "locked.pdf").write_bytes(build_pdf(["Hidden."], "owner", "secret"))
    (docs / "open.pdf").write_bytes(build_pdf(["Platypus lay eggs."], "owner", ""))
    scanned = fpdf.FPDF()
    scanned.add_page()
    scanned.rect(20, 20, 100, 60, style="F")
    (docs / "scanned.pdf").write_bytes(bytes(scanned.output()))
    (docs / "long.txt").write_text("wombat " * 400_000 + "\n")
    (docs / 'spaces "quotes" and naïve\nnewline.md').write_text("Echidnas have spines.\n")
    (docs / "loop").symlink_to(docs)
    (docs / "escape").symlink_to(outside)
    store = str(tmp_path / "store")

    code, out, err = run(capsys, "ingest", str(docs), "--store", store, *FAKE_EMBEDDER)

    assert code == ExitCode.FILES_SKIPPED
    reasons = {
        "empty.txt": "empty file",
        "binary.txt": "looks binary",
        "corrupt.pdf": "not a readable PDF",
        "locked.pdf": "needs a password",
        "scanned.pdf": "no text layer",  # a black box: OCR finds no text in it either
        "loop": "symlink loop",
        "escape": "outside",
    }
    for name, reason in reasons.items():
        line = next((text for text in err.splitlines() if f"{name}:" in text), "")
        assert reason in line, (name, err)
    assert "Traceback" not in err
    assert "ingested 5 new" in out
    listed = {
        Path(d["path"]).name
        for d in json.loads(run(capsys, "sources", "--store", store, "--json")[1])
    }
    assert listed == {
        "good.md",
        "latin1.txt",
        "open.pdf",
        "long.txt",
        'spaces "quotes" and naïve\nnewline.md',
    }
    assert "latin1.txt" in ask_paths(capsys, store, "Café crème brûlée recipe")
    code, out, _ = run(capsys, "ask", "Café crème", "--store", store, "--model", "fake:", "--json")
    assert "Café crème brûlée" in json.loads(out)["sources"][0]["text"]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["--chunk-tokens", "16"],
            "--chunk-tokens must be more than the overlap (32, the default --overlap-tokens), "
            "not 16",
        ),
        (
            ["--overlap-tokens", "300"],
            "--overlap-tokens must be less than the chunk size (200, the default "
            "--chunk-tokens), not 300",
        ),
        (
            ["--chunk-tokens", "64", "--overlap-tokens", "64"],
            "--overlap-tokens must be less than --chunk-tokens (64), not 64",
        ),
    ],
    ids=["chunk given", "overlap given", "both given"],
)
def test_chunking_that_leaves_no_room_blames_the_flag_given(
    flags: list[str], said: str, tmp_path: Path, capsys: Capture
) -> None:
    store = ["--store", str(tmp_path / "store"), "--embed-model", "fake:64"]
    code, out, err = run(capsys, "ingest", str(tmp_path), *store, *flags)
    assert code == ExitCode.USAGE and out == ""
    assert err == f"rag: error: {said}\n"
