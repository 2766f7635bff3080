"""`rag doctor` and the store's damage: real SQLite files damaged byte by byte, real FAISS."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ragcli.errors import ExitCode
from tests.conftest import Capture, run_rag

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DOCS = ROOT / "sample_docs"
DIM = 64


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy store of the sample documents (copied by each test before damaging it)."""
    from ragcli.cli import main

    store = tmp_path_factory.mktemp("doctor") / "store"
    with pytest.raises(SystemExit) as stopped:
        main(
            [
                "ingest",
                str(SAMPLE_DOCS),
                "--store",
                str(store),
                "--embed-model",
                f"fake:{DIM}",
                "-q",
            ]
        )
    assert stopped.value.code in (0, None)
    return store


@pytest.fixture
def store(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(built, copy)
    return copy


def sql(store: Path, *statements: str, parameters: tuple[object, ...] = ()) -> list[tuple]:
    with closing(sqlite3.connect(store / "store.sqlite3")) as db:
        rows: list[tuple] = []
        for statement in statements:
            rows = db.execute(statement, parameters if "?" in statement else ()).fetchall()
        db.commit()
        return rows


def doctor(capsys: Capture, store: Path, *flags: str) -> tuple[int, dict, str]:
    code, out, err = run_rag(capsys, "doctor", "--store", str(store), "--json", "-q", *flags)
    return code, json.loads(out), err


def statuses(report: dict) -> dict[str, str]:
    return {check["check"]: check["status"] for check in report["checks"]}


def damage_vectors(store: Path) -> None:
    """Cut one stored vector short and fill another with NaN."""
    keys = [row[0] for row in sql(store, "SELECT text_sha256 FROM embeddings LIMIT 2")]
    sql(
        store,
        "UPDATE embeddings SET vector = substr(vector, 1, 100) WHERE text_sha256 = ?",
        parameters=(keys[0],),
    )
    sql(
        store,
        "UPDATE embeddings SET vector = ? WHERE text_sha256 = ?",
        parameters=(struct.pack(f"<{DIM}f", *[float("nan")] * DIM), keys[1]),
    )


def test_a_healthy_store_is_reported_healthy(store: Path, capsys: Capture) -> None:
    code, report, _ = doctor(capsys, store)
    assert code == 0 and report["healthy"] and not report["repaired"] and not report["lost"]
    assert statuses(report) == {
        "database": "ok",
        "keyword index": "ok",
        "vectors": "ok",
        "vector index": "ok",
    }


def test_damaged_vectors_fail_compact_with_a_hint_and_doctor_embeds_them_again(
    store: Path, capsys: Capture
) -> None:
    damage_vectors(store)
    code, _, err = run_rag(capsys, "compact", "--store", str(store), "-q")
    assert code == ExitCode.STORE_CORRUPT and "damaged vector" in err and "rag doctor" in err

    code, report, _ = doctor(capsys, store, "--check")
    assert code == ExitCode.STORE_CORRUPT and statuses(report)["vectors"] == "damaged"
    assert "2 of" in report["checks"][2]["detail"]

    code, report, _ = doctor(capsys, store)
    assert code == 0 and report["healthy"] and statuses(report)["vectors"] == "repaired"
    lengths = {row[0] for row in sql(store, "SELECT length(vector) FROM embeddings")}
    assert lengths == {4 * DIM}
    assert run_rag(capsys, "compact", "--store", str(store), "-q")[0] == 0


def test_zero_vectors_are_damaged_and_doctor_embeds_them_again(
    store: Path, capsys: Capture
) -> None:
    # What a server sending 1e300 used to leave: vectors normalised to zeros, ingest exit 0.
    zero = bytes(4 * DIM)
    key = sql(store, "SELECT text_sha256 FROM embeddings LIMIT 1")[0][0]
    sql(store, "UPDATE embeddings SET vector = ? WHERE text_sha256 = ?", parameters=(zero, key))

    code, report, _ = doctor(capsys, store, "--check")
    assert code == ExitCode.STORE_CORRUPT and statuses(report)["vectors"] == "damaged"
    assert "1 of" in report["checks"][2]["detail"] and "all zero" in report["checks"][2]["detail"]

    code, report, _ = doctor(capsys, store)
    assert code == 0 and report["healthy"] and statuses(report)["vectors"] == "repaired"
    assert zero not in {row[0] for row in sql(store, "SELECT vector FROM embeddings")}


def test_a_damaged_keyword_index_fails_search_with_a_hint_and_doctor_rebuilds_it(
    store: Path, capsys: Capture
) -> None:
    sql(store, "UPDATE chunks_fts_data SET block = randomblob(length(block)) WHERE id > 10")
    code, _, err = run_rag(capsys, "search", "Grok", "--store", str(store), "--mode", "keyword")
    assert code == ExitCode.STORE_CORRUPT and "rag doctor" in err

    code, report, _ = doctor(capsys, store)
    assert code == 0 and statuses(report)["keyword index"] == "repaired"
    code, out, _ = run_rag(capsys, "search", "Grok", "--store", str(store), "--mode", "keyword")
    assert code == 0 and "grok-announcement.md" in out


def test_an_index_from_another_store_is_rebuilt(
    store: Path, tmp_path: Path, capsys: Capture
) -> None:
    other = tmp_path / "other"
    run_rag(
        capsys,
        "ingest",
        str(SAMPLE_DOCS / "language-models.md"),
        "--store",
        str(other),
        "--embed-model",
        f"fake:{DIM}",
        "-q",
    )
    shutil.copy(other / "index.faiss", store / "index.faiss")
    code, _, err = run_rag(capsys, "search", "Grok", "--store", str(store), "--mode", "dense")
    assert code == ExitCode.STORE_CORRUPT and "rag index" in err
    code, out, _ = run_rag(capsys, "status", "--store", str(store), "--json")
    status = json.loads(out)  # status shows the state rather than refusing to
    assert code == 0 and status["indexed"] == 0 and "rag index" in status["index_problem"]

    code, report, _ = doctor(capsys, store)
    assert code == 0 and statuses(report)["vector index"] == "repaired"
    assert run_rag(capsys, "search", "Grok", "--store", str(store), "--mode", "dense")[0] == 0


@pytest.mark.parametrize("damage", ["zeroed", "truncated", "emptied"])
def test_a_zeroed_or_truncated_database_says_what_is_lost(
    store: Path, capsys: Capture, damage: str
) -> None:
    database = store / "store.sqlite3"
    size = database.stat().st_size
    if damage == "zeroed":
        database.write_bytes(bytes(size))
    elif damage == "emptied":
        database.write_bytes(b"")
    else:
        with database.open("r+b") as handle:
            handle.truncate(size // 3)
    code, _, err = run_rag(capsys, "search", "Grok", "--store", str(store))
    assert code == ExitCode.STORE_CORRUPT and "rag doctor" in err and str(database) in err

    code, report, _ = doctor(capsys, store)
    assert code == ExitCode.STORE_CORRUPT and not report["healthy"]
    assert statuses(report)["database"] == "damaged" and report["lost"]


def test_doctor_on_a_missing_store_exits_3(tmp_path: Path, capsys: Capture) -> None:
    code, _, err = run_rag(capsys, "doctor", "--store", str(tmp_path / "nothing"))
    assert code == ExitCode.NO_STORE and "no store" in err


def test_ingest_over_a_damaged_keyword_index_does_not_exit_0(
    store: Path, tmp_path: Path, capsys: Capture
) -> None:
    blocks = [row[0] for row in sql(store, "SELECT id FROM chunks_fts_data WHERE id > 10")]
    sql(
        store,
        "UPDATE chunks_fts_data SET block = randomblob(length(block)) WHERE id = ?",
        parameters=(blocks[len(blocks) // 2],),
    )
    # A small file of its own: the write adds a new keyword segment without merging the
    # damaged one (a long file such as the README did, and failed in the write instead).
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nA short note about lighthouses and their keepers.\n")
    code, _, err = run_rag(capsys, "ingest", str(note), "--store", str(store), "-q")
    assert code == ExitCode.STORE_CORRUPT and "keyword index" in err and "rag doctor" in err

    assert doctor(capsys, store)[0] == 0
    assert doctor(capsys, store, "--check")[1]["healthy"]


def test_store_faults_through_the_cli_are_exit_10_not_1(store: Path, capsys: Capture) -> None:
    (store / "lock").unlink(missing_ok=True)
    (store / "lock").mkdir()
    code, _, err = run_rag(capsys, "ingest", str(ROOT / "README.md"), "--store", str(store))
    assert code == ExitCode.NOT_WRITABLE and str(store / "lock") in err
    assert "internal error" not in err


def damage_page_of(store: Path, name: str) -> None:
    """Overwrite the start of the root page of a table or index, as a bad sector would."""
    with closing(sqlite3.connect(store / "store.sqlite3")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()[
            0
        ]
    with (store / "store.sqlite3").open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * 64)


def test_a_damaged_index_page_is_rebuilt_from_the_table_rows(store: Path, capsys: Capture) -> None:
    damage_page_of(store, "chunks_by_document")
    code, report, _ = doctor(capsys, store, "--check")
    assert code == ExitCode.STORE_CORRUPT and statuses(report)["database"] == "damaged"

    code, report, _ = doctor(capsys, store)
    assert code == 0 and statuses(report)["database"] == "repaired" and not report["lost"]
    assert doctor(capsys, store, "--check")[0] == 0
    code, out, _ = run_rag(capsys, "sources", "--store", str(store), "--json")
    assert code == 0 and len(json.loads(out)) == len(list(SAMPLE_DOCS.iterdir()))


def test_a_damaged_table_page_names_the_documents_lost_and_ingest_brings_them_back(
    store: Path, capsys: Capture
) -> None:
    damage_page_of(store, "chunks")
    code, report, _ = doctor(capsys, store)
    assert code == ExitCode.STORE_CORRUPT
    lost = " ".join(report["lost"])
    assert all(path.name in lost for path in SAMPLE_DOCS.iterdir())
    assert doctor(capsys, store, "--check")[0] == 0  # consistent again, minus what was lost

    assert run_rag(capsys, "ingest", str(SAMPLE_DOCS), "--store", str(store), "-q")[0] == 0
    code, out, _ = run_rag(capsys, "search", "Grok", "--store", str(store), "-k", "1")
    assert code == 0 and "grok-announcement.md" in out


def test_an_index_from_before_checksums_is_not_damage_and_gets_one(
    store: Path, capsys: Capture
) -> None:
    sql(store, "DELETE FROM manifest WHERE key IN ('index', 'index_next')")
    code, report, _ = doctor(capsys, store, "--check")
    assert code == 0 and "not verifiable" in report["checks"][3]["detail"]

    code, report, _ = doctor(capsys, store)
    assert code == 0 and statuses(report)["vector index"] == "repaired"
    assert sql(store, "SELECT COUNT(*) FROM manifest WHERE key = 'index'") == [(1,)]


def test_a_database_restored_from_a_backup_never_answers_with_another_files_vector(
    tmp_path: Path, capsys: Capture
) -> None:
    """The issue's case: the older database reuses chunk ids the newer index gave others."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nWalruses sleep on the arctic ice floes.\n")
    store = tmp_path / "store"
    ingest = ("ingest", "--store", str(store), "--embed-model", f"fake:{DIM}", "-q")
    assert run_rag(capsys, ingest[0], str(docs / "a.md"), *ingest[1:])[0] == 0
    backup = (store / "store.sqlite3").read_bytes()
    assert run_rag(capsys, "rm", str(docs / "a.md"), "--store", str(store), "-q")[0] == 0
    (docs / "b.md").write_text("# B\n\nZebras graze the savanna in striped herds.\n")
    assert run_rag(capsys, ingest[0], str(docs / "b.md"), *ingest[1:])[0] == 0

    (store / "store.sqlite3").write_bytes(backup)  # restored; the index stays newer
    code, _, err = run_rag(
        capsys, "search", "zebras savanna", "--store", str(store), "--mode", "dense"
    )
    assert code == ExitCode.STORE_CORRUPT and "rag index" in err
    (docs / "c.md").write_text("# C\n\nKangaroos carry their young through the outback.\n")
    assert run_rag(capsys, ingest[0], str(docs / "c.md"), *ingest[1:])[0] == 0

    code, out, _ = run_rag(
        capsys,
        "search",
        "Zebras graze the savanna in striped herds",
        "--store",
        str(store),
        "--mode",
        "dense",
        "--json",
        "-k",
        "1",
    )
    top = json.loads(out.splitlines()[0])
    assert not (top["path"].endswith("c.md") and top["score"] > 0.5), top
    assert doctor(capsys, store, "--check")[0] == 0


# -- the manifest, and files that are not regular ---------------------------------------------


def test_a_manifest_value_that_is_not_json_is_exit_9_and_doctor_rebuilds_it(
    store: Path, capsys: Capture
) -> None:
    sql(store, "UPDATE manifest SET value = 'not json {' WHERE key IN ('dimension', 'index')")
    ingest = ("ingest", str(SAMPLE_DOCS), "--embed-model", f"fake:{DIM}", "-q")
    for command in (("search", "Grok"), ("status",), ingest):
        code, _, err = run_rag(capsys, *command, "--store", str(store))
        assert code == ExitCode.STORE_CORRUPT, (command, err)
        assert "manifest" in err and "dimension is not JSON" in err and "rag doctor" in err

    code, report, _ = doctor(capsys, store, "--check")
    assert code == ExitCode.STORE_CORRUPT and statuses(report) == {"manifest": "damaged"}

    code, report, _ = doctor(capsys, store)
    assert code == 0 and report["healthy"] and not report["lost"], report
    assert statuses(report)["manifest"] == "repaired"
    assert statuses(report)["vector index"] == "repaired"  # its record was dropped
    assert "dimension" in report["checks"][0]["detail"]
    assert sql(store, "SELECT value FROM manifest WHERE key = 'dimension'") == [(str(DIM),)]
    code, out, _ = run_rag(capsys, "search", "Grok", "--store", str(store), "--mode", "dense")
    assert code == 0 and "grok" in out.lower()
    assert doctor(capsys, store, "--check")[0] == 0


def test_a_manifest_value_nothing_else_records_is_named_as_lost(
    store: Path, capsys: Capture
) -> None:
    sql(store, "UPDATE manifest SET value = x'00ff' WHERE key = 'embedder'")
    before = sql(store, "SELECT key, value FROM manifest ORDER BY key")
    code, report, _ = doctor(capsys, store)
    assert code == ExitCode.STORE_CORRUPT and not report["healthy"]
    assert statuses(report) == {"manifest": "damaged"}
    assert "cannot rebuild embedder" in report["checks"][0]["detail"]
    assert any("embedder" in lost for lost in report["lost"])
    assert sql(store, "SELECT key, value FROM manifest ORDER BY key") == before  # untouched


def test_a_manifest_whose_rows_are_all_gone_is_not_healthy(store: Path, capsys: Capture) -> None:
    sql(store, "DELETE FROM manifest")
    code, _, err = run_rag(capsys, "search", "Grok", "--store", str(store))
    assert code == ExitCode.STORE_CORRUPT and "manifest" in err and "rag doctor" in err
    code, report, _ = doctor(capsys, store, "--check")
    assert code == ExitCode.STORE_CORRUPT and not report["healthy"]
    code, report, _ = doctor(capsys, store)
    assert code == ExitCode.STORE_CORRUPT and statuses(report) == {"manifest": "damaged"}
    assert "embedder" in report["checks"][0]["detail"] and report["lost"]


def rag_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `rag` in a process of its own: a hang fails the test, never stalls it."""
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_an_index_that_is_a_fifo_or_dev_zero_never_hangs_and_doctor_rebuilds_it(
    store: Path, kind: str
) -> None:
    index = store / "index.faiss"
    index.unlink()
    if kind == "fifo":
        os.mkfifo(index)
    else:
        index.symlink_to("/dev/zero")
    done = rag_process("search", "Grok", "--store", str(store), "--mode", "dense")
    assert done.returncode == ExitCode.STORE_CORRUPT, done.stderr
    done = rag_process("doctor", "--store", str(store), "--check", "--json")
    assert done.returncode == ExitCode.STORE_CORRUPT and "not a regular file" in done.stdout
    done = rag_process("doctor", "--store", str(store), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert index.is_file() and not index.is_symlink()
    assert rag_process("search", "Grok", "--store", str(store), "--mode", "dense").returncode == 0
