"""kill -9 at random moments of ingest, index and compact never corrupts or duplicates.

Each trial starts the real command as a subprocess, kills it with SIGKILL after a random
delay, checks the store still opens, reruns the command to completion and checks the
invariants: every index id is a live chunk, every live chunk text is indexed exactly once
(identical texts share one entry; this corpus has none), the chunk count equals a fresh
build's, and `rag ask` answers.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
# 3 ms per embedded text: slow enough for kills to land while embedding.
EMBEDDER = "fake:64:128:3"
WORDS = [
    "graph",
    "vector",
    "index",
    "search",
    "recall",
    "chunk",
    "answer",
    "model",
    "token",
    "embedding",
    "store",
    "query",
    "paper",
    "corpus",
    "page",
    "line",
    "section",
    "heading",
    "cosine",
    "distance",
    "neighbour",
    "layer",
]


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ragcli", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def make_corpus(folder: Path, files: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for number in range(files):
        paragraphs = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))).capitalize() + "."
            for _ in range(rng.randint(2, 5))
        ]
        body = "\n\n".join(paragraphs)
        (folder / f"note {number:03d}.md").write_text(f"# Note {number}\n\n{body}\n")


def index_ids(store: Path) -> np.ndarray:
    index = faiss.read_index(str(store / "index.faiss"))
    return faiss.vector_to_array(faiss.downcast_index(index).id_map).astype(np.int64)


def live_ids(store: Path) -> set[int]:
    with sqlite3.connect(store / "store.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT id FROM chunks")}


def distinct_text_ids(store: Path) -> set[int]:
    """The lowest live chunk id of each distinct text: what the index must hold."""
    with sqlite3.connect(store / "store.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT MIN(id) FROM chunks GROUP BY text_sha256")}


def check_invariants(store: Path, expected_chunks: int) -> None:
    held = index_ids(store)
    live = live_ids(store)
    assert len(held) == len(set(held.tolist())), "an id is indexed twice"
    assert set(held.tolist()) <= live, "an index id is not a live chunk"
    assert set(held.tolist()) == distinct_text_ids(store), "a live text is not indexed"
    assert len(live) == expected_chunks
    done = rag("ask", "graph index recall", "--store", str(store), "--model", "fake:", "--json")
    assert done.returncode == 0, done.stderr


def kill_at_random(args: list[str], rng: random.Random, longest_s: float) -> None:
    process = start(*args)
    time.sleep(rng.uniform(0.05, longest_s))
    process.send_signal(signal.SIGKILL)
    process.wait()


def still_opens(store: Path) -> None:
    """Right after a kill the store opens (or does not exist yet): never corrupt."""
    done = rag("status", "--store", str(store), "--json")
    assert done.returncode in (0, 3), done.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, float]:
    """A corpus of 240 notes, its chunk count from a fresh build, and that build's time."""
    folder = tmp_path_factory.mktemp("crash") / "corpus"
    make_corpus(folder, 240)
    store = folder.parent / "reference"
    started = time.perf_counter()
    done = rag("ingest", str(folder), "--store", str(store), "--embed-model", EMBEDDER)
    assert done.returncode == 0, done.stderr
    return folder, len(live_ids(store)), time.perf_counter() - started


@pytest.mark.parametrize("trial", range(8))
def test_kill_during_ingest(corpus: tuple[Path, int, float], tmp_path: Path, trial: int) -> None:
    folder, chunks, seconds = corpus
    rng = random.Random(100 + trial)
    store = tmp_path / "store"
    args = ["ingest", str(folder), "--store", str(store), "--embed-model", EMBEDDER, "-q"]
    for _ in range(2):  # twice: the second kill interrupts a resumed run
        kill_at_random(args, rng, seconds)
        still_opens(store)
    done = rag(*args)
    assert done.returncode == 0, done.stderr
    check_invariants(store, chunks)


@pytest.mark.parametrize("trial", range(7))
def test_kill_during_index(corpus: tuple[Path, int, float], tmp_path: Path, trial: int) -> None:
    folder, chunks, seconds = corpus
    rng = random.Random(200 + trial)
    store = tmp_path / "store"
    done = rag(
        "ingest", str(folder), "--store", str(store), "--embed-model", EMBEDDER, "--no-index"
    )
    assert done.returncode == 0, done.stderr
    kill_at_random(["index", "--store", str(store)], rng, seconds)
    still_opens(store)
    assert rag("index", "--store", str(store)).returncode == 0
    check_invariants(store, chunks)


@pytest.mark.parametrize("trial", range(7))
def test_kill_during_compact(corpus: tuple[Path, int, float], tmp_path: Path, trial: int) -> None:
    folder, _, _ = corpus
    rng = random.Random(300 + trial)
    copy = tmp_path / "corpus"
    copy.mkdir()
    for path in sorted(folder.iterdir()):
        (copy / path.name).write_bytes(path.read_bytes())
    store = tmp_path / "store"
    assert (
        rag("ingest", str(copy), "--store", str(store), "--embed-model", EMBEDDER, "-q").returncode
        == 0
    )
    for path in sorted(copy.iterdir())[::10]:
        path.unlink()  # a tenth removed: tombstones, under the rebuild threshold
    assert rag("ingest", str(copy), "--store", str(store), "-q").returncode == 0
    expected = len(live_ids(store))
    started = time.perf_counter()
    kill_at_random(["compact", "--store", str(store)], rng, 1.5)
    still_opens(store)
    # Whatever moment the kill hit, the index file is one the database vouches for (its
    # record is committed before the rename): searches go on without a rebuild.
    searched = rag("search", "graph index recall", "--store", str(store), "--mode", "dense")
    assert searched.returncode == 0, searched.stderr
    done = rag("compact", "--store", str(store))
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - started < 120
    check_invariants(store, expected)
