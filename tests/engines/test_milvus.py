"""Stores whose vectors live in Milvus (real Milvus Lite under tmp_path) behave like FAISS ones."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragcli.vectors.milvus_connection import CONNECT_TIMEOUT_S
from tests.conftest import Capture, run_rag
from tests.engines.test_crash import EMBEDDER, make_corpus

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_docs"
QUERIES = [
    "vector search with HNSW graphs",
    "what is retrieval augmented generation",
    "precision and recall",
    "sentence embeddings",
    "language models predict the next token",
]
FAKE = ["--embed-model", "fake:64"]


def rag(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def top3(capsys: Capture, store: Path) -> list[list[tuple[str, int, int]]]:
    """The top 3 chunks of every query, dense mode: (path, first line, last line)."""
    found = []
    for query in QUERIES:
        code, out, err = run_rag(
            capsys,
            "search",
            query,
            "--store",
            str(store),
            "--mode",
            "dense",
            "--top-k",
            "3",
            "--json",
        )
        assert code == 0, err
        hits = [json.loads(line) for line in out.splitlines()]
        found.append([(h["path"], h["start_line"], h["end_line"]) for h in hits])
    return found


def status(capsys: Capture, store: Path) -> dict[str, object]:
    code, out, err = run_rag(capsys, "status", "--store", str(store), "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def manifest_value(store: Path, key: str) -> object:
    with sqlite3.connect(store / "store.sqlite3") as db:
        row = db.execute("SELECT value FROM manifest WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0])


def collection_ids(store: Path) -> list[int]:
    """Every id in the store's Milvus Lite collection, read with pymilvus in a subprocess."""
    code = (
        "import sys, json\n"
        "from pymilvus import MilvusClient\n"
        "c = MilvusClient(sys.argv[1]); c.load_collection(sys.argv[2])\n"
        "it = c.query_iterator(sys.argv[2], batch_size=1000, filter='', output_fields=['id'])\n"
        "ids = []\n"
        "while (b := it.next()): ids += [r['id'] for r in b]\n"
        "print(json.dumps(ids))\n"
    )
    return _pymilvus(store, code)  # type: ignore[no-any-return]


def delete_in_milvus(store: Path, how_many: int) -> list[int]:
    code = (
        "import sys, json\n"
        "from pymilvus import MilvusClient\n"
        "c = MilvusClient(sys.argv[1]); c.load_collection(sys.argv[2])\n"
        f"ids = [r['id'] for r in c.query(sys.argv[2], filter='', output_fields=['id'], "
        f"limit={how_many})]\n"
        "c.delete(sys.argv[2], ids=ids); c.flush(sys.argv[2]); print(json.dumps(ids))\n"
    )
    return _pymilvus(store, code)  # type: ignore[no-any-return]


def _pymilvus(store: Path, code: str) -> object:
    uri = str(manifest_value(store, "vectors"))
    path = uri.removeprefix("milvus://")
    collection = str(manifest_value(store, "vector_collection"))
    done = subprocess.run(
        [sys.executable, "-c", code, path, collection], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def embedded_indexable(store: Path) -> set[int]:
    with sqlite3.connect(store / "store.sqlite3") as db:
        rows = db.execute(
            "SELECT MIN(c.id) FROM chunks c JOIN embeddings e ON e.text_sha256 = c.text_sha256 "
            "GROUP BY c.text_sha256"
        )
        return {row[0] for row in rows}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(SAMPLES, folder)
    return folder


def _cycle(capsys: Capture, docs: Path, tmp_path: Path, embedder: list[str]) -> None:
    """ingest -> search -> rm -> search -> compact -> search on a FAISS and a Milvus store."""
    faiss_store, milvus_store = tmp_path / "faiss", tmp_path / "milvus"
    lite = f"milvus://{tmp_path / 'vectors.db'}"
    for store, vectors in ((faiss_store, "faiss"), (milvus_store, lite)):
        code, _, err = run_rag(
            capsys, "ingest", str(docs), "--store", str(store), *embedder, "--vectors", vectors
        )
        assert code == 0, err
    assert top3(capsys, milvus_store) == top3(capsys, faiss_store)
    shown = status(capsys, milvus_store)
    assert shown["vectors"] == lite and shown["vector_count"] == shown["indexed"] > 0
    assert shown["index_problem"] is None
    assert status(capsys, faiss_store)["vectors"] == "faiss"

    removed = str(docs / "vector-search.pdf")
    for store in (faiss_store, milvus_store):
        code, _, err = run_rag(capsys, "rm", removed, "--store", str(store))
        assert code == 0, err
    after_rm = top3(capsys, milvus_store)
    assert after_rm == top3(capsys, faiss_store)
    assert all(path != removed for hits in after_rm for path, _, _ in hits)
    shown = status(capsys, milvus_store)
    # Deleted in Milvus, not kept as tombstones.
    assert shown["tombstones"] == 0 and shown["vector_count"] == shown["embedded"]
    assert sorted(collection_ids(milvus_store)) == sorted(embedded_indexable(milvus_store))

    for store in (faiss_store, milvus_store):
        code, _, err = run_rag(capsys, "compact", "--store", str(store))
        assert code == 0, err
    assert top3(capsys, milvus_store) == after_rm


def test_ingest_search_rm_compact_gives_the_faiss_hits(
    capsys: Capture, docs: Path, tmp_path: Path
) -> None:
    _cycle(capsys, docs, tmp_path, FAKE)


def test_the_same_with_the_bundled_embedder(capsys: Capture, docs: Path, tmp_path: Path) -> None:
    _cycle(capsys, docs, tmp_path, [])


def beir_dataset(tmp_path: Path) -> Path:
    """The tiny BEIR data set of test_evaluate, written under tmp_path."""
    from tests.cli.test_evaluate import DOCS
    from tests.cli.test_evaluate import QUERIES as EVAL_QUERIES

    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in DOCS.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in EVAL_QUERIES.items())
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{q}\t{d}\t1\n" for q, (_, d) in EVAL_QUERIES.items())
    )
    return root


def lite_collections(path: Path) -> list[str]:
    """The collections in a Milvus Lite directory, listed with pymilvus in a subprocess."""
    code = (
        "import sys, json\nfrom pymilvus import MilvusClient\n"
        "print(json.dumps(MilvusClient(sys.argv[1]).list_collections()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_eval_on_milvus_scores_as_on_faiss(capsys: Capture, tmp_path: Path) -> None:
    root = beir_dataset(tmp_path)
    reports = []
    for vectors in ("faiss", f"milvus://{tmp_path / 'eval.db'}"):
        code, out, err = run_rag(
            capsys, "eval", str(root), *FAKE, "--vectors", vectors, "--mode", "dense", "--json"
        )
        assert code == 0, err
        report = json.loads(out)
        scores = {k: v for k, v in report["modes"]["dense"].items() if not k.startswith("latency")}
        reports.append((scores, report["hnsw_recall_at_10"], report["chunks"]))
    assert reports[0] == reports[1]
    assert reports[0][0]["ndcg_at_10"] > 0


def test_eval_drops_the_collection_of_its_temporary_store_only(
    capsys: Capture, tmp_path: Path
) -> None:
    root = beir_dataset(tmp_path)
    lite = tmp_path / "eval.db"
    run = ("eval", str(root), *FAKE, "--vectors", f"milvus://{lite}", "--mode", "dense", "--json")
    code, _, err = run_rag(capsys, *run)
    assert code == 0, err
    assert lite.is_dir() and lite_collections(lite) == []
    work = tmp_path / "work"
    code, _, err = run_rag(capsys, *run, "--work-dir", str(work))
    assert code == 0, err
    assert lite_collections(lite) == [manifest_value(work / "store", "vector_collection")]


def test_a_relative_lite_path_is_recorded_absolute(
    capsys: Capture, docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store"
    code, _, err = run_rag(
        capsys, "ingest", str(docs), "--store", str(store), *FAKE, "--vectors", "milvus://rel/v.db"
    )
    assert code == 0, err
    assert manifest_value(store, "vectors") == f"milvus://{tmp_path / 'rel' / 'v.db'}"


def test_another_vectors_uri_for_an_existing_store_is_a_mismatch(
    capsys: Capture, docs: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    code, _, err = run_rag(capsys, "ingest", str(docs), "--store", str(store), *FAKE)
    assert code == 0, err
    code, _, err = run_rag(
        capsys, "ingest", str(docs), "--store", str(store), "--vectors", f"milvus://{tmp_path}/v.db"
    )
    assert code == 2 and "keeps its vectors in 'faiss'" in err


def test_a_mismatch_is_reported_by_status_and_repaired_by_index(
    capsys: Capture, docs: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    lite = f"milvus://{tmp_path / 'v.db'}"
    code, _, err = run_rag(
        capsys, "ingest", str(docs), "--store", str(store), *FAKE, "--vectors", lite
    )
    assert code == 0, err
    before = top3(capsys, store)
    deleted = delete_in_milvus(store, 7)
    assert len(deleted) == 7
    shown = status(capsys, store)
    assert shown["vector_count"] == int(shown["embedded"]) - 7  # type: ignore[call-overload]
    assert "rag index" in str(shown["index_problem"])
    code, _, err = run_rag(capsys, "index", "--store", str(store))
    assert code == 0, err
    shown = status(capsys, store)
    assert shown["index_problem"] is None and shown["vector_count"] == shown["embedded"]
    assert sorted(collection_ids(store)) == sorted(embedded_indexable(store))
    assert top3(capsys, store) == before
    code, out, err = run_rag(capsys, "doctor", "--store", str(store))
    assert code == 0, err


def count_listings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls of MilvusIndex.ids (every id through the network) in this process."""
    from ragcli.vectors.milvus import MilvusIndex

    calls: list[int] = []
    listing = MilvusIndex.ids

    def counted(self: MilvusIndex) -> object:
        calls.append(1)
        return listing(self)

    monkeypatch.setattr(MilvusIndex, "ids", counted)
    return calls


def recorded_ids(store: Path) -> set[int] | None:
    """The ids the store's record says Milvus holds; None if the record is not vouched for."""
    with sqlite3.connect(store / "store.sqlite3") as db:
        exact = db.execute("SELECT value FROM manifest WHERE key = 'vector_ids_exact'").fetchone()
        if exact is None or json.loads(exact[0]) is not True:
            return None
        return {row[0] for row in db.execute("SELECT id FROM vector_ids")}


def swap_in_milvus(store: Path) -> list[int]:
    """Delete one id in Milvus and add one no chunk has: its count stays the same."""
    code = (
        "import sys, json\n"
        "from pymilvus import MilvusClient\n"
        "c = MilvusClient(sys.argv[1]); c.load_collection(sys.argv[2])\n"
        "ids = [r['id'] for r in c.query(sys.argv[2], filter='', output_fields=['id'], limit=1)]\n"
        "c.delete(sys.argv[2], ids=ids)\n"
        "c.upsert(sys.argv[2], [{'id': 999999, 'vec': [0.125] * 64}])\n"
        "c.flush(sys.argv[2]); print(json.dumps(ids))\n"
    )
    return _pymilvus(store, code)  # type: ignore[return-value]


def test_writes_compare_the_record_instead_of_listing_milvus(
    capsys: Capture, docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    later = tmp_path / "language-models.md"
    (docs / later.name).rename(later)
    lite = f"milvus://{tmp_path / 'v.db'}"
    code, _, err = run_rag(
        capsys, "ingest", str(docs), "--store", str(store), *FAKE, "--vectors", lite
    )
    assert code == 0, err
    first = status(capsys, store)["vector_count"]
    listings = count_listings(monkeypatch)
    later.rename(docs / later.name)
    code, _, err = run_rag(capsys, "ingest", str(docs), "--store", str(store))
    assert code == 0, err
    assert status(capsys, store)["vector_count"] > first  # type: ignore[operator]
    code, _, err = run_rag(capsys, "rm", str(docs / "vector-search.pdf"), "--store", str(store))
    assert code == 0, err
    code, _, err = run_rag(capsys, "index", "--store", str(store))
    assert code == 0, err
    assert listings == []
    held = collection_ids(store)
    assert sorted(held) == sorted(embedded_indexable(store))
    assert recorded_ids(store) == set(held)
    assert status(capsys, store)["index_problem"] is None


def test_a_write_cut_short_is_repaired_by_listing_milvus(
    capsys: Capture, docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    lite = f"milvus://{tmp_path / 'v.db'}"
    code, _, err = run_rag(
        capsys, "ingest", str(docs), "--store", str(store), *FAKE, "--vectors", lite
    )
    assert code == 0, err
    assert recorded_ids(store) == set(collection_ids(store))
    # A run killed while writing to Milvus: the record's warrant was withdrawn first, and
    # Milvus changed in ways its count does not show.
    with sqlite3.connect(store / "store.sqlite3") as db:
        db.execute("DELETE FROM manifest WHERE key = 'vector_ids_exact'")
    (gone,) = swap_in_milvus(store)
    assert 999999 in collection_ids(store) and gone not in collection_ids(store)
    listings = count_listings(monkeypatch)
    code, _, err = run_rag(capsys, "ingest", str(docs), "--store", str(store))
    assert code == 0, err
    assert len(listings) == 1
    held = collection_ids(store)
    assert sorted(held) == sorted(embedded_indexable(store))
    assert recorded_ids(store) == set(held)
    code, _, err = run_rag(capsys, "ingest", str(docs), "--store", str(store))
    assert code == 0, err
    assert len(listings) == 1  # vouched for again: no second listing


@pytest.mark.parametrize("when", ["embedding", "writing vectors"])
def test_sigkill_during_ingest_then_rerun_leaves_no_duplicate_and_no_loss(
    tmp_path: Path, when: str
) -> None:
    folder = tmp_path / "corpus"
    make_corpus(folder, 120)
    store = tmp_path / "store"
    lite = f"milvus://{tmp_path / 'v.db'}"
    args = ["ingest", str(folder), "--store", str(store), "--embed-model", EMBEDDER]
    process = subprocess.Popen(
        [sys.executable, "-m", "ragcli", *args, "--vectors", lite],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_commits(store, process, everything=when == "writing vectors")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    done = rag(*args)
    assert done.returncode == 0, done.stderr
    held = collection_ids(store)
    assert len(held) == len(set(held)), "an id is in Milvus twice"
    assert set(held) == embedded_indexable(store), "a live chunk is missing or a dead one kept"
    assert recorded_ids(store) == set(held)
    shown = json.loads(rag("status", "--store", str(store), "--json").stdout)
    assert shown["vector_count"] == shown["embedded"] == shown["chunks"]
    assert shown["index_problem"] is None


def _wait_for_commits(store: Path, process: subprocess.Popen[bytes], everything: bool) -> None:
    """Return once some embedding batches (or all of them) are committed to SQLite."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(store / "store.sqlite3", timeout=1) as db:
                embedded = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
                chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        except sqlite3.Error:
            embedded = chunks = 0
        if embedded and (not everything or embedded >= chunks):
            return
        time.sleep(0.02)
    assert process.poll() is None, "ingest finished before it could be killed"


def _milvus_store(tmp_path: Path, uri: str) -> Path:
    """A FAISS-free store whose manifest points at `uri` (made by editing a Lite store's)."""
    store = tmp_path / "store"
    done = rag(
        "ingest",
        str(SAMPLES),
        "--store",
        str(store),
        *FAKE,
        "--vectors",
        f"milvus://{tmp_path / 'v.db'}",
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(store / "store.sqlite3") as db:
        db.execute("UPDATE manifest SET value = ? WHERE key = 'vectors'", (json.dumps(uri),))
    return store


def test_a_new_store_is_not_bound_to_a_milvus_it_could_not_reach(
    capsys: Capture, docs: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    ingest = ("ingest", str(docs), "--store", str(store), *FAKE, "--vectors")
    code, _, err = run_rag(capsys, *ingest, "milvus://127.0.0.1:1")
    assert code == 5 and "127.0.0.1:1" in err, err
    code, _, err = run_rag(capsys, *ingest, "milvus://127.0.0.1:19530x")
    assert code == 2 and "malformed" in err, err
    lite = f"milvus://{tmp_path / 'v.db'}"
    code, _, err = run_rag(capsys, *ingest, lite)
    assert code == 0, err
    assert manifest_value(store, "vectors") == lite
    shown = status(capsys, store)
    assert shown["vector_count"] == shown["embedded"] and shown["index_problem"] is None


def test_an_unreachable_milvus_is_one_line_and_exit_5(tmp_path: Path) -> None:
    store = _milvus_store(tmp_path, "milvus://127.0.0.1:1")
    started = time.monotonic()
    done = rag("search", "vector", "--store", str(store), "--mode", "dense")
    assert time.monotonic() - started < CONNECT_TIMEOUT_S
    assert done.returncode == 5
    assert done.stderr.count("\n") == 1 and "127.0.0.1:1" in done.stderr, done.stderr


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback TCP port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_a_server_that_never_answers_fails_within_the_connect_timeout(
    tmp_path: Path, silent_listener: int
) -> None:
    store = _milvus_store(tmp_path, f"milvus://127.0.0.1:{silent_listener}")
    started = time.monotonic()
    done = rag("search", "vector", "--store", str(store), "--mode", "dense", timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 5, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert elapsed < CONNECT_TIMEOUT_S + 15  # the connect timeout, plus Python's start-up


def test_a_lite_store_held_by_another_process_is_a_clear_busy_error(tmp_path: Path) -> None:
    store = _milvus_store(tmp_path, f"milvus://{tmp_path / 'v.db'}")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pymilvus import MilvusClient\n"
            "c = MilvusClient(sys.argv[1]); print('held', flush=True); time.sleep(120)\n",
            str(tmp_path / "v.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = rag("search", "vector", "--store", str(store), "--mode", "dense")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 7, done.stderr
    assert "busy" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


HEAVY = ("pymilvus", "milvus_lite", "ray")
_PROBE = (
    "import sys\n"
    "from ragcli.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print('LOADED:' + ' '.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
)


def _loaded(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    marker = [line for line in done.stderr.splitlines() if line.startswith("LOADED:")]
    assert marker, done.stderr
    return marker[-1].removeprefix("LOADED:")


def test_help_and_the_faiss_path_import_no_milvus_or_ray(tmp_path: Path) -> None:
    assert _loaded("--help") == ""
    store = tmp_path / "store"
    assert _loaded("ingest", str(SAMPLES), "--store", str(store), *FAKE, "-q") == ""
    assert (store / "index.faiss").is_file()
    assert _loaded("search", "vector search", "--store", str(store)) == ""
    assert _loaded("status", "--store", str(store)) == ""
    assert _loaded("ask", "what is recall", "--store", str(store), "--model", "fake:") == ""
