"""ragcli.store: a real SQLite store in tmp_path, its manifest, chunks, cache, index and lock."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ragcli.errors import (
    ExitCode,
    IndexMismatchError,
    LoadError,
    StoreCorruptError,
    StoreLockedError,
    StoreNotFoundError,
    StoreWriteError,
)
from ragcli.indexing import update_index
from ragcli.records import Chunk, ChunkingSettings, HnswSettings, Manifest, SourceFile
from ragcli.retrieval.keywords import fts_query
from ragcli.store import (
    DATABASE_NAME,
    FORMAT_VERSION,
    LOCK_NAME,
    Store,
    atomic_write_bytes,
    text_key,
    writer_lock,
)
from ragcli.vectors.faiss_hnsw import FaissHnswIndex

DIM = 8

MANIFEST = Manifest(
    format_version=FORMAT_VERSION,
    embedder="fake:8",
    dimension=DIM,
    max_text_tokens=128,
    normalized=True,
    chunking=ChunkingSettings(chunk_tokens=120, overlap_tokens=20),
    hnsw=HnswSettings(m=16, ef_construction=80, ef_search=40),
)

# The format-1 schema, as the previous ragcli wrote it: embeddings lived on the chunk rows.
V1_SCHEMA = """
CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    size INTEGER NOT NULL, mtime REAL NOT NULL, sha256 TEXT NOT NULL,
    pages INTEGER NOT NULL, ingested_at REAL NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, heading TEXT NOT NULL, page INTEGER,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    start_char INTEGER NOT NULL, end_char INTEGER NOT NULL, embedding BLOB
);
CREATE INDEX chunks_by_document ON chunks(document_id);
INSERT INTO manifest(key, value) VALUES ('format_version', '1');
"""

# Takes the store's lock, says so, and holds it until stdin closes (or 30 s pass).
HOLD_LOCK = """
import fcntl, signal, sys
signal.alarm(30)
with open(sys.argv[1], "a+") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
"""

# Another rag writer: exits 0 if it got the lock at once, 3 if the store was locked.
TRY_LOCK = """
import sys
from pathlib import Path
from ragcli.errors import StoreLockedError
from ragcli.store import writer_lock
try:
    with writer_lock(Path(sys.argv[1]), wait=False, on_wait=print):
        pass
except StoreLockedError:
    sys.exit(3)
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A new store, its manifest written first (documents without one are damage)."""
    with Store.open(tmp_path / "store", create=True) as opened:
        opened.write_manifest(MANIFEST)
        yield opened


def source(path: str, sha: str = "a", size: int = 100) -> SourceFile:
    return SourceFile(path=path, size=size, mtime=1_700_000_000.5, sha256=sha * 64)


def chunks(
    path: str,
    texts: Sequence[str],
    page: int | None = None,
    headings: Sequence[str] | None = None,
) -> list[Chunk]:
    return [
        Chunk(
            text=text,
            path=path,
            page=page,
            start_line=n + 1,
            end_line=n + 2,
            start_char=10 * n,
            end_char=10 * n + len(text),
            heading=headings[n] if headings else "",
        )
        for n, text in enumerate(texts)
    ]


def add(
    store: Store,
    path: str,
    texts: Sequence[str],
    sha: str = "a",
    headings: Sequence[str] | None = None,
) -> list[int]:
    """Store a document; return the ids its chunks got, in order."""
    before = set(store.chunk_ids().tolist())
    count = store.replace_document(source(path, sha), "text", chunks(path, texts, None, headings))
    new = sorted(set(store.chunk_ids().tolist()) - before)
    assert count == len(new) == len(texts)
    return new


def vector_for(text: str) -> np.ndarray:
    """A unit vector that depends only on the text, so shared texts share vectors."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def embed(store: Store, batch_size: int = 64) -> list[Chunk]:
    """Embed what the store lacks, batch by batch as `rag index` does; return what was embedded."""
    embedded: list[Chunk] = []
    for batch in store.iter_unembedded(batch_size):
        store.save_embeddings(batch, np.stack([vector_for(c.embed_text) for c in batch]))
        embedded.extend(batch)
    return embedded


def unembedded_ids(store: Store, batch_size: int = 1000) -> list[int]:
    return [c.id for batch in store.iter_unembedded(batch_size) for c in batch if c.id is not None]


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_full_index(store: Store) -> None:
    index = FaissHnswIndex.create(DIM, HnswSettings())
    index.add(*store.embedded_vectors(DIM))
    store.save_vectors(MANIFEST, index)


def run_sql(root: Path, script: str) -> None:
    """Change a store's database behind ragcli's back."""
    with closing(sqlite3.connect(root / DATABASE_NAME)) as raw:
        raw.executescript(script)


def table_names(root: Path) -> set[str]:
    with closing(sqlite3.connect(root / DATABASE_NAME)) as raw:
        return {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}


def sha_of(store: Store, path: str) -> str | None:
    state = store.document_state(path)
    return None if state is None else state[2]


def texts_of(store: Store, ids: Sequence[int]) -> list[str]:
    found = store.chunks_by_id(ids)
    return [found[i].text for i in ids]


# -- opening, manifest, format version ------------------------------------------------------


def test_open_missing_store_raises_and_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(StoreNotFoundError):
        Store.open(root)
    assert not root.exists()


def test_open_existing_directory_without_database_raises(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        Store.open(tmp_path)
    assert not (tmp_path / DATABASE_NAME).exists()


def test_open_with_create_makes_an_empty_store(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "store"
    with Store.open(root, create=True) as store:
        assert (root / DATABASE_NAME).is_file()
        assert store.manifest is None
        status = store.status()
    assert (status.documents, status.chunks, status.embedded, status.indexed) == (0, 0, 0, 0)
    assert (status.tombstones, status.index_bytes) == (0, 0)
    with Store.open(root) as reopened:
        assert reopened.manifest is None


def test_open_with_create_keeps_an_existing_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        ids = add(store, "docs/a.txt", ["kept"])
    with Store.open(root, create=True) as again:
        assert texts_of(again, ids) == ["kept"]


def test_opening_for_reading_does_not_write_the_schema(tmp_path: Path) -> None:
    root = tmp_path / "store"
    Store.open(root, create=True).close()
    run_sql(root, "DROP TABLE embeddings;")

    with Store.open(root):
        pass

    tables = table_names(root)
    assert "embeddings" not in tables
    assert {"manifest", "documents", "chunks"} <= tables


def test_manifest_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        store.write_manifest(MANIFEST)
        assert store.manifest == MANIFEST
    with Store.open(root, writable=True) as reopened:
        assert reopened.manifest == MANIFEST
        changed = replace(MANIFEST, embedder="fake:8:64", chunking=ChunkingSettings(50, 5))
        reopened.write_manifest(changed)
        assert reopened.manifest == changed


@pytest.mark.parametrize("version", [1, FORMAT_VERSION + 1])
@pytest.mark.parametrize("create", [False, True])
def test_manifest_of_another_format_version_is_refused(
    tmp_path: Path, version: int, create: bool
) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        store.write_manifest(replace(MANIFEST, format_version=version))

    with pytest.raises(StoreCorruptError, match=f"format version {version}"):
        Store.open(root, create=create)


@pytest.mark.parametrize("create", [False, True])
def test_a_format_1_store_is_refused_with_its_version(tmp_path: Path, create: bool) -> None:
    root = tmp_path / "store"
    root.mkdir()
    run_sql(root, V1_SCHEMA)

    # With create=True (what `rag ingest` does) the version is checked before the schema
    # script could fail on the old layout, so the message names the version and the way out.
    with pytest.raises(StoreCorruptError, match="format version 1"):
        Store.open(root, create=create)

    assert "embeddings" not in table_names(root)


def test_garbage_database_file_raises_store_corrupt(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / DATABASE_NAME).write_bytes(b"this is not an SQLite database " * 200)

    with pytest.raises(StoreCorruptError):
        Store.open(root)


# -- documents and chunks -------------------------------------------------------------------


def test_replace_document_replaces_chunks_and_never_reuses_ids(store: Store) -> None:
    first = add(store, "docs/a.txt", ["one", "two", "three"], sha="a")
    second = add(store, "docs/a.txt", ["uno", "dos", "tres"], sha="b")

    assert min(second) > max(first)
    status = store.status()
    assert (status.documents, status.chunks) == (1, 3)
    assert sha_of(store, "docs/a.txt") == "b" * 64
    assert store.chunks_by_id(first) == {}
    assert texts_of(store, second) == ["uno", "dos", "tres"]
    assert sorted(store.chunk_ids().tolist()) == second


def test_replace_document_keeps_other_documents(store: Store) -> None:
    add(store, "docs/a.txt", ["a1", "a2"])
    b_ids = add(store, "docs/b.txt", ["b1"])
    a_ids = add(store, "docs/a.txt", ["a3"], sha="c")

    assert sorted(store.chunk_ids().tolist()) == sorted(a_ids + b_ids)
    assert texts_of(store, a_ids + b_ids) == ["a3", "b1"]
    assert sha_of(store, "docs/b.txt") == "a" * 64
    assert store.document_state("docs/missing.txt") is None


def test_replace_document_streams_many_chunks_and_counts_them(store: Store) -> None:
    texts = [f"chunk {n}" for n in range(1300)]

    count = store.replace_document(
        source("docs/big.txt"), "text", (c for c in chunks("docs/big.txt", texts))
    )

    assert count == 1300
    ids = sorted(store.chunk_ids().tolist())
    assert texts_of(store, ids) == texts
    assert [d.chunks for d in store.documents()] == [1300]


def test_replace_document_with_no_chunks_stores_an_empty_document(store: Store) -> None:
    assert store.replace_document(source("docs/empty.txt"), "text", iter([])) == 0

    [document] = store.documents()
    assert (document.path, document.chunks) == ("docs/empty.txt", 0)
    assert store.chunk_ids().size == 0


@pytest.mark.parametrize("good_chunks", [1, 700])
def test_load_error_mid_document_keeps_the_older_version(store: Store, good_chunks: int) -> None:
    kept = add(store, "docs/a.txt", ["kept one", "kept two"], sha="a")
    other = add(store, "docs/b.txt", ["other"])
    yielded: list[int] = []

    def failing() -> Iterator[Chunk]:
        # More than one insert batch (512) goes to SQLite before the failure in one case.
        for chunk in chunks("docs/a.txt", [f"new {n}" for n in range(good_chunks)]):
            yielded.append(1)
            yield chunk
        raise LoadError("docs/a.txt: truncated PDF")

    with pytest.raises(LoadError):
        store.replace_document(source("docs/a.txt", sha="b"), "text", failing())

    assert len(yielded) == good_chunks
    assert sha_of(store, "docs/a.txt") == "a" * 64
    assert sorted(store.chunk_ids().tolist()) == sorted(kept + other)
    assert texts_of(store, kept) == ["kept one", "kept two"]
    assert [(d.path, d.chunks) for d in store.documents()] == [
        ("docs/a.txt", 2),
        ("docs/b.txt", 1),
    ]
    add(store, "docs/c.txt", ["still writable"])
    assert store.status().chunks == 4


def test_load_error_on_a_new_document_leaves_no_trace(store: Store) -> None:
    def failing() -> Iterator[Chunk]:
        yield from chunks("docs/new.txt", ["half", "way"])
        raise LoadError("docs/new.txt: unreadable")

    with pytest.raises(LoadError):
        store.replace_document(source("docs/new.txt"), "text", failing())

    assert store.document_state("docs/new.txt") is None
    assert store.documents() == []
    assert store.chunk_ids().size == 0
    assert store.count_unembedded() == 0


def test_failed_insert_leaves_no_partial_rows(store: Store) -> None:
    kept = add(store, "docs/a.txt", ["kept one", "kept two"], sha="a")
    broken = chunks("docs/a.txt", ["new one", "new two"])
    broken[1] = replace(broken[1], start_line=None)  # type: ignore[arg-type]

    with pytest.raises(sqlite3.IntegrityError):
        store.replace_document(source("docs/a.txt", sha="b"), "text", broken)

    assert sha_of(store, "docs/a.txt") == "a" * 64
    assert sorted(store.chunk_ids().tolist()) == kept
    assert texts_of(store, kept) == ["kept one", "kept two"]


def test_transaction_rolls_back_on_keyboard_interrupt(store: Store) -> None:
    add(store, "docs/a.txt", ["survives"])

    with pytest.raises(KeyboardInterrupt), store._transaction():
        store._db.execute("DELETE FROM documents")
        raise KeyboardInterrupt

    assert sha_of(store, "docs/a.txt") == "a" * 64
    assert store.status().chunks == 1


def test_document_state_and_documents_describe_what_was_stored(store: Store) -> None:
    before = time.time()
    store.replace_document(
        source("docs/b.pdf", sha="b", size=4096),
        "pdf",
        chunks("docs/b.pdf", ["p1", "p2", "p3"], page=1),
    )
    add(store, "docs/a.txt", ["only"])
    after = time.time()

    assert store.document_state("docs/b.pdf") == (4096, 1_700_000_000.5, "b" * 64)
    documents = store.documents()
    assert [(d.path, d.kind, d.size, d.sha256, d.chunks) for d in documents] == [
        ("docs/a.txt", "text", 100, "a" * 64, 1),
        ("docs/b.pdf", "pdf", 4096, "b" * 64, 3),
    ]
    assert all(before <= d.ingested_at <= after for d in documents)


def test_touch_document_updates_size_and_mtime_but_not_content(store: Store) -> None:
    ids = add(store, "docs/a.txt", ["same text"], sha="a")

    store.touch_document(
        SourceFile("docs/a.txt", size=222, mtime=1_800_000_000.25, sha256="z" * 64)
    )

    assert store.document_state("docs/a.txt") == (222, 1_800_000_000.25, "a" * 64)
    assert store.chunk_ids().tolist() == ids
    store.touch_document(source("docs/missing.txt"))
    assert store.document_state("docs/missing.txt") is None
    assert len(store.documents()) == 1


def test_remove_documents_removes_their_chunks_and_counts_what_went(store: Store) -> None:
    a_ids = add(store, "docs/a.txt", ["a1", "a2"])
    b_ids = add(store, "docs/b.txt", ["b1"])
    c_ids = add(store, "docs/c.txt", ["c1"])

    removed = store.remove_documents(["docs/a.txt", "docs/missing.txt", "docs/c.txt"])

    assert removed == 2
    assert store.document_paths() == ["docs/b.txt"]
    assert store.chunk_ids().tolist() == b_ids
    assert store.chunks_by_id(a_ids + c_ids) == {}
    assert store.remove_documents([]) == 0
    assert store.remove_documents(["docs/a.txt"]) == 0


def test_document_paths_under_matches_whole_directory_names(store: Store) -> None:
    for path in [
        "/a/b/x.txt",
        "/a/b/c/y.txt",
        "/a/bc/x.txt",
        "/a/b.txt",
        "/z.txt",
        "/data_1/f.txt",
        "/dataX1/f.txt",
        "/pct%/f.txt",
        "/pctQ/f.txt",
    ]:
        add(store, path, [f"text of {path}"])

    assert store.document_paths(under="/a/b") == ["/a/b/c/y.txt", "/a/b/x.txt"]
    assert store.document_paths(under="/a/b/") == ["/a/b/c/y.txt", "/a/b/x.txt"]
    assert store.document_paths(under="/a") == [
        "/a/b.txt",
        "/a/b/c/y.txt",
        "/a/b/x.txt",
        "/a/bc/x.txt",
    ]
    assert store.document_paths(under="/a/b/c/y.txt") == []
    assert store.document_paths(under="/data_1") == ["/data_1/f.txt"]
    assert store.document_paths(under="/pct%") == ["/pct%/f.txt"]
    assert store.document_paths(under="/nothing") == []
    assert store.document_paths() == sorted(store.document_paths())
    assert len(store.document_paths()) == 9


def test_chunks_by_id_returns_stored_fields(store: Store) -> None:
    written = chunks(
        "docs/p.pdf", ["first page text", "second bit"], page=2, headings=["", "Intro > Scope"]
    )
    store.replace_document(source("docs/p.pdf"), "pdf", written)
    ids = sorted(store.chunk_ids().tolist())

    found = store.chunks_by_id([ids[1], ids[0], 10**9])

    assert set(found) == set(ids)
    for chunk_id, expected in zip(ids, written, strict=True):
        assert found[chunk_id] == replace(expected, id=chunk_id)
    assert store.chunks_by_id([]) == {}


def test_chunk_ids_are_int64_and_live_only(store: Store) -> None:
    assert store.chunk_ids().dtype == np.int64
    assert store.chunk_ids().size == 0
    add(store, "docs/a.txt", ["a1"])
    b_ids = add(store, "docs/b.txt", ["b1", "b2"])
    store.remove_documents(["docs/a.txt"])
    assert store.chunk_ids().dtype == np.int64
    assert sorted(store.chunk_ids().tolist()) == b_ids


# -- the embedding cache --------------------------------------------------------------------


def test_text_key_is_the_sha256_of_what_the_embedder_reads() -> None:
    plain = Chunk("body", "a.txt", None, 1, 1, 0, 4)
    headed = replace(plain, heading="Intro")

    assert text_key(plain) == hashlib.sha256(b"body").hexdigest()
    assert text_key(headed) == hashlib.sha256(b"Intro\nbody").hexdigest()
    moved = replace(
        plain,
        path="other/b.txt",
        page=3,
        start_line=9,
        end_line=12,
        start_char=500,
        end_char=504,
        id=77,
    )
    assert text_key(moved) == text_key(plain)
    assert text_key(headed) != text_key(plain)


def test_iter_unembedded_yields_batches_in_id_order(store: Store) -> None:
    ids = add(store, "docs/a.txt", [f"chunk {n}" for n in range(7)])

    batches = list(store.iter_unembedded(3))

    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [c for b in batches for c in b]
    assert [c.text for c in flat] == [f"chunk {n}" for n in range(7)]
    assert [c.id for c in flat] == ids
    assert all(c.path == "docs/a.txt" for c in flat)
    assert store.count_unembedded() == 7


def test_iter_unembedded_skips_saved_and_survives_saving_while_iterating(store: Store) -> None:
    add(store, "docs/a.txt", [f"chunk {n}" for n in range(10)])

    embedded = embed(store, batch_size=4)

    ids = [c.id for c in embedded]
    assert len(ids) == len(set(ids)) == 10
    assert list(store.iter_unembedded(4)) == []
    assert store.count_unembedded() == 0
    assert store.status().embedded == 10


def test_iter_unembedded_yields_one_chunk_per_distinct_text(store: Store) -> None:
    ids = add(store, "docs/a.txt", ["same", "other", "same", "other", "third"])
    assert store.count_unembedded() == 3

    [batch] = list(store.iter_unembedded(10))

    assert sorted(c.text for c in batch) == ["other", "same", "third"]
    store.save_embeddings(batch, np.stack([vector_for(c.embed_text) for c in batch]))
    assert store.count_unembedded() == 0
    assert sorted(store.embedded_ids().tolist()) == ids
    assert store.status().embedded == 5
    got_ids, vectors = store.embedded_vectors(DIM)
    assert got_ids.tolist() == ids
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[1], vectors[3])


def test_duplicate_text_across_batches_is_embedded_once(store: Store) -> None:
    add(store, "docs/a.txt", ["dup", "a", "b", "dup", "c", "dup"])

    embedded = embed(store, batch_size=2)

    assert sorted(c.text for c in embedded) == ["a", "b", "c", "dup"]
    assert store.embedded_ids().size == 6


def test_a_copied_document_reuses_the_cached_embeddings(store: Store) -> None:
    texts = ["alpha", "beta", "gamma"]
    headings = ["", "Part 1", "Part 1 > Detail"]
    original = add(store, "docs/a.txt", texts, headings=headings)
    assert len(embed(store)) == 3

    copy = add(store, "backup/a-copy.txt", texts, sha="a", headings=headings)

    assert store.count_unembedded() == 0
    assert list(store.iter_unembedded(10)) == []
    assert sorted(store.embedded_ids().tolist()) == sorted(original + copy)
    got_ids, vectors = store.embedded_vectors(DIM)
    by_id = dict(zip(got_ids.tolist(), vectors, strict=True))
    for first, second in zip(original, copy, strict=True):
        np.testing.assert_array_equal(by_id[first], by_id[second])
    assert store.status().embedded == 6


def test_same_text_under_another_heading_needs_its_own_embedding(store: Store) -> None:
    add(store, "docs/a.txt", ["shared body"], headings=["Chapter 1"])
    embed(store)

    moved = add(store, "docs/b.txt", ["shared body"], headings=["Appendix"])
    plain = add(store, "docs/c.txt", ["shared body"])

    assert store.count_unembedded() == 2
    assert sorted(unembedded_ids(store)) == moved + plain


def test_saved_embeddings_come_back_exactly(store: Store) -> None:
    ids = add(store, "docs/a.txt", [f"chunk {n}" for n in range(6)])
    found = store.chunks_by_id(ids)
    vectors = unit_vectors(6, seed=3)
    store.save_embeddings([found[i] for i in ids[:4]], vectors[:4])

    got_ids, got = store.embedded_vectors(DIM)

    assert got_ids.dtype == np.int64 and got.dtype == np.float32
    assert got_ids.tolist() == ids[:4]
    np.testing.assert_array_equal(got, vectors[:4])
    assert sorted(store.embedded_ids().tolist()) == ids[:4]
    assert unembedded_ids(store) == ids[4:]
    assert store.count_unembedded() == 2


def test_embedded_vectors_honours_only(store: Store) -> None:
    ids = add(store, "docs/a.txt", [f"chunk {n}" for n in range(5)])
    found = store.chunks_by_id(ids)
    vectors = unit_vectors(5, seed=4)
    store.save_embeddings([found[i] for i in ids], vectors)

    only = np.asarray([ids[3], ids[1], 10**9], dtype=np.int64)
    got_ids, got = store.embedded_vectors(DIM, only=only)

    assert got_ids.tolist() == [ids[1], ids[3]]
    np.testing.assert_array_equal(got, vectors[[1, 3]])
    none_ids, none = store.embedded_vectors(DIM, only=np.zeros(0, dtype=np.int64))
    assert none_ids.shape == (0,) and none.shape == (0, DIM)


def test_embedded_vectors_stream_in_batches(store: Store) -> None:
    ids = add(store, "docs/a.txt", [f"chunk {n}" for n in range(5)])
    found = store.chunks_by_id(ids)
    vectors = unit_vectors(5, seed=5)
    store.save_embeddings([found[i] for i in ids], vectors)

    batches = list(store.iter_embedded_vectors(DIM, batch_size=2))

    assert [b[0].tolist() for b in batches] == [ids[:2], ids[2:4], ids[4:]]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), vectors)


def test_embedded_vectors_of_empty_store(store: Store) -> None:
    ids, vectors = store.embedded_vectors(DIM)
    assert ids.shape == (0,) and ids.dtype == np.int64
    assert vectors.shape == (0, DIM) and vectors.dtype == np.float32
    assert store.embedded_ids().size == 0
    assert store.count_unembedded() == 0


def test_removed_documents_keep_cached_vectors_until_pruned(store: Store) -> None:
    add(store, "docs/a.txt", ["shared", "only in a"], headings=["", "H"])
    b_ids = add(store, "docs/b.txt", ["shared", "only in b"], headings=["", "H"])
    assert len(embed(store)) == 3

    store.remove_documents(["docs/a.txt"])
    assert sorted(store.embedded_ids().tolist()) == b_ids
    add(store, "docs/a.txt", ["shared", "only in a"], headings=["", "H"])
    assert store.count_unembedded() == 0  # the cache outlived the removal
    store.remove_documents(["docs/a.txt"])

    assert store.prune_embeddings() == 1
    assert store.prune_embeddings() == 0
    assert sorted(store.embedded_ids().tolist()) == b_ids
    again = add(store, "docs/a.txt", ["shared", "only in a"], headings=["", "H"])
    assert unembedded_ids(store) == [again[1]]


def test_committed_rows_are_visible_to_a_new_connection(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        ids = add(store, "docs/a.txt", ["durable"])
        embed(store)

    with Store.open(root) as reopened:
        assert texts_of(reopened, ids) == ["durable"]
        np.testing.assert_array_equal(reopened.embedded_vectors(DIM)[1], [vector_for("durable")])
        assert reopened.count_unembedded() == 0


# -- index file and status ------------------------------------------------------------------


def test_status_counts_documents_chunks_embedded_and_indexed(store: Store) -> None:
    store.write_manifest(MANIFEST)
    ids = add(store, "docs/a.txt", ["a1", "a2", "a3"])
    add(store, "docs/b.txt", ["b1", "b2"])
    found = store.chunks_by_id(ids[:2])
    store.save_embeddings([found[i] for i in ids[:2]], unit_vectors(2))

    before = store.status()
    index = FaissHnswIndex.create(DIM, MANIFEST.hnsw)
    index.add(*store.embedded_vectors(DIM))
    store.save_vectors(MANIFEST, index)
    after = store.status()

    assert (before.documents, before.chunks, before.embedded, before.indexed) == (2, 5, 2, 0)
    assert (before.tombstones, before.index_bytes) == (0, 0)
    assert before.manifest == MANIFEST
    assert (after.indexed, after.tombstones) == (2, 0)
    assert after.index_bytes == store.index_path.stat().st_size > 0


def test_removed_and_replaced_chunks_show_as_tombstones(store: Store) -> None:
    store.write_manifest(MANIFEST)
    add(store, "docs/a.txt", ["a1", "a2", "a3"])
    add(store, "docs/b.txt", ["b1", "b2"])
    embed(store)
    write_full_index(store)
    assert (store.status().indexed, store.status().tombstones) == (5, 0)

    store.remove_documents(["docs/a.txt"])
    status = store.status()
    assert (status.documents, status.chunks, status.embedded) == (1, 2, 2)
    assert (status.indexed, status.tombstones) == (2, 3)

    # Re-ingesting b gives its chunks new ids: the old ones become tombstones too.
    add(store, "docs/b.txt", ["b1", "b2"], sha="b")
    status = store.status()
    assert (status.embedded, status.indexed, status.tombstones) == (2, 0, 5)

    write_full_index(store)
    assert (store.status().indexed, store.status().tombstones) == (2, 0)


def test_index_file_round_trip_through_store(store: Store) -> None:
    assert store.open_vectors(MANIFEST) is None
    index = FaissHnswIndex.create(DIM, MANIFEST.hnsw)
    index.add(np.arange(10, 15, dtype=np.int64), unit_vectors(5))
    store.save_vectors(MANIFEST, index)

    loaded = store.open_vectors(MANIFEST)

    assert loaded is not None
    assert loaded.ids().tolist() == [10, 11, 12, 13, 14]
    assert not [name for name in os.listdir(store.root) if name.endswith(".part")]


def test_garbage_index_file_raises_store_corrupt(store: Store) -> None:
    store.index_path.write_bytes(b"not a faiss index" * 50)
    with pytest.raises(StoreCorruptError):
        store.open_vectors(MANIFEST)


def indexed_store(root: Path, texts: Sequence[str], path: str = "docs/a.txt") -> Store:
    """A store holding one document, embedded and fully indexed (closed by the caller)."""
    opened = Store.open(root, create=True)
    opened.write_manifest(MANIFEST)
    add(opened, path, texts)
    embed(opened)
    update_index(opened, MANIFEST, rebuild=False)
    return opened


def index_matches_database(store: Store) -> bool:
    """Every index id is an indexable chunk, holding exactly that chunk's stored vector."""
    index = store.open_vectors(MANIFEST)
    assert index is not None
    wanted = store.indexable_ids()
    if sorted(index.ids().tolist()) != wanted.tolist():
        return False
    ids, vectors = store.embedded_vectors(DIM, wanted)
    return all(
        index.search(vector, 1)[0][0] == chunk_id
        for chunk_id, vector in zip(ids.tolist(), vectors, strict=True)
    )


@pytest.mark.parametrize("dimension", [DIM, 16])
def test_an_index_from_another_store_is_refused_then_rebuilt(
    tmp_path: Path, dimension: int
) -> None:
    with indexed_store(tmp_path / "ours", ["alpha one", "beta two", "gamma three"]) as ours:
        foreign = FaissHnswIndex.create(dimension, MANIFEST.hnsw)
        vectors = np.random.default_rng(3).standard_normal((3, dimension)).astype(np.float32)
        foreign.add(ours.indexable_ids(), vectors)
        ours.index_path.write_bytes(foreign.to_bytes())

        with pytest.raises(IndexMismatchError, match="another store"):
            ours.open_vectors(MANIFEST)
        notes: list[str] = []
        assert update_index(ours, MANIFEST, rebuild=False, note=notes.append)[2] is True

        assert "does not match" in notes[0] and index_matches_database(ours)


def test_an_index_copied_from_another_store_file_is_refused(tmp_path: Path) -> None:
    with indexed_store(tmp_path / "theirs", ["delta four", "epsilon five"]) as theirs:
        theirs_bytes = theirs.index_path.read_bytes()
    with indexed_store(tmp_path / "ours", ["alpha one", "beta two"]) as ours:
        ours.index_path.write_bytes(theirs_bytes)
        with pytest.raises(IndexMismatchError):
            ours.open_vectors(MANIFEST)


def test_a_database_restored_from_an_older_backup_refuses_the_newer_index(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    with indexed_store(root, ["alpha one", "beta two"]) as opened:
        opened._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        backup = (root / DATABASE_NAME).read_bytes()
        opened.remove_documents(["docs/a.txt"])
        add(opened, "docs/b.txt", ["zeta six", "eta seven"])
        embed(opened)
        update_index(opened, MANIFEST, rebuild=False)
    (root / DATABASE_NAME).write_bytes(backup)  # the -wal went with the close

    with Store.open(root, writable=True) as restored:
        with pytest.raises(IndexMismatchError):
            restored.open_vectors(MANIFEST)
        update_index(restored, MANIFEST, rebuild=False)
        assert index_matches_database(restored)


@pytest.mark.parametrize("seed", range(12))
def test_flipped_bits_in_the_index_are_detected(tmp_path: Path, seed: int) -> None:
    texts = [f"passage number {n} about {n * 7} things" for n in range(40)]
    with indexed_store(tmp_path / "store", texts) as opened:
        data = bytearray(opened.index_path.read_bytes())
        rng = np.random.default_rng(seed)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[position] ^= 1 << int(rng.integers(0, 8))
        opened.index_path.write_bytes(bytes(data))

        with pytest.raises(IndexMismatchError):
            opened.open_vectors(MANIFEST)


def test_an_index_written_but_not_yet_recorded_is_still_accepted(tmp_path: Path) -> None:
    """A crash between renaming the new file and promoting its record loses nothing."""
    with indexed_store(tmp_path / "store", ["alpha one", "beta two"]) as opened:
        add(opened, "docs/b.txt", ["gamma three"])
        embed(opened)
        index = opened.open_vectors(MANIFEST)
        assert index is not None
        index.add(*opened.embedded_vectors(DIM, np.setdiff1d(opened.indexable_ids(), index.ids())))
        data = index.to_bytes()
        record = {
            "crc32": zlib.crc32(data),
            "bytes": len(data),
            "vectors": len(index),
            "generation": 2,
        }
        opened._set_manifest({"index_next": record})
        opened.index_path.write_bytes(data)  # ... and the process dies here

        loaded = opened.open_vectors(MANIFEST)
        assert loaded is not None and len(loaded) == 3


def test_an_index_from_before_checksums_loads_and_is_rebuilt_on_the_next_write(
    tmp_path: Path,
) -> None:
    with indexed_store(tmp_path / "store", ["alpha one", "beta two"]) as opened:
        run_sql(opened.root, "DELETE FROM manifest WHERE key IN ('index', 'index_next')")
        legacy = opened.open_vectors(MANIFEST)
        assert legacy is not None and not legacy.verified

        assert update_index(opened, MANIFEST, rebuild=False)[2] is True
        assert opened.open_vectors(MANIFEST).verified  # type: ignore[union-attr]
        assert [r.generation for r in opened.index_records()] == [1]


def test_atomic_write_replaces_content_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "index.faiss"
    atomic_write_bytes(target, b"first version")
    atomic_write_bytes(target, b"second")

    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["index.faiss"]


def test_atomic_write_failure_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "index.faiss"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]

    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["index.faiss"]


# -- the writer lock ------------------------------------------------------------------------


@contextmanager
def lock_held_elsewhere(root: Path) -> Iterator[subprocess.Popen[str]]:
    """Hold the store's lock in another process until its stdin is closed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(root / LOCK_NAME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        if holder.stdin is not None and not holder.stdin.closed:
            holder.stdin.close()
        try:
            holder.wait(timeout=30)
        finally:
            if holder.poll() is None:
                holder.kill()
            if holder.stdout is not None:
                holder.stdout.close()


def lock_is_free(root: Path) -> bool:
    probe = subprocess.run([sys.executable, "-c", TRY_LOCK, str(root)], timeout=30, check=False)
    assert probe.returncode in (0, 3)
    return probe.returncode == 0


def test_writer_lock_fails_at_once_when_another_process_writes(tmp_path: Path) -> None:
    Store.open(tmp_path / "store", create=True).close()
    root = tmp_path / "store"
    notes: list[str] = []

    with lock_held_elsewhere(root) as holder:
        with (
            pytest.raises(StoreLockedError, match="another rag process"),
            writer_lock(root, wait=False, on_wait=notes.append),
        ):
            pytest.fail("the lock was taken while another process held it")
        assert holder.poll() is None

    assert notes == []
    with writer_lock(root, wait=False, on_wait=notes.append):
        assert not lock_is_free(root)
    assert lock_is_free(root)


def test_writer_lock_waits_for_another_process_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    notes: list[str] = []
    entered = False

    with lock_held_elsewhere(root) as holder:

        def release_when_waiting(message: str) -> None:
            notes.append(message)
            assert holder.stdin is not None
            holder.stdin.close()

        with writer_lock(root, wait=True, on_wait=release_when_waiting):
            entered = True
            assert len(notes) == 1
            assert holder.wait(timeout=30) == 0

    assert entered
    assert "waiting" in notes[0] and str(root) in notes[0]


def test_writer_lock_is_released_when_the_body_raises(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()

    with pytest.raises(RuntimeError), writer_lock(root, wait=False, on_wait=print):
        assert not lock_is_free(root)
        raise RuntimeError("boom")

    assert lock_is_free(root)


def test_writer_lock_on_a_missing_store(tmp_path: Path) -> None:
    root = tmp_path / "absent"
    with pytest.raises(StoreNotFoundError), writer_lock(root, wait=False, on_wait=print):
        pytest.fail("entered the lock of a missing store")
    assert not root.exists()

    with writer_lock(root / "deeper", wait=False, on_wait=print, create=True):
        assert (root / "deeper" / LOCK_NAME).is_file()


def test_a_store_opened_for_writing_holds_the_lock_until_closed(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True, write=True, wait=False) as store:
        assert not lock_is_free(root)
        assert (root / LOCK_NAME).is_file()
        with pytest.raises(StoreLockedError):
            Store.open(root, write=True, wait=False)
        store.write_manifest(MANIFEST)
    assert lock_is_free(root)
    with Store.open(root) as reader:  # readers take no lock
        assert lock_is_free(root)
        assert reader.manifest == MANIFEST


def test_a_writer_that_cannot_open_the_store_releases_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / DATABASE_NAME).write_bytes(b"this is not an SQLite database " * 200)
    with pytest.raises(StoreCorruptError):
        Store.open(root, write=True, wait=False)
    assert lock_is_free(root)


# -- keyword index (FTS5) ------------------------------------------------------------------


def keyword_ids(store: Store, *terms: str) -> list[int]:
    return [i for i, _ in store.keyword_search(fts_query(list(terms)), 50)]


def fts_is_consistent(store: Store) -> bool:
    store._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    return True


def test_keyword_index_follows_inserts_replacements_and_removals(store: Store) -> None:
    first = add(store, "/d/a.md", ["the walrus sleeps", "zebras graze"])
    assert keyword_ids(store, "walrus") == [first[0]]

    second = add(store, "/d/a.md", ["the walrus swims", "an okapi hides"], sha="b")
    assert keyword_ids(store, "walrus") == [second[0]]
    assert keyword_ids(store, "zebras") == []
    assert keyword_ids(store, "okapi") == [second[1]]

    store.remove_documents(["/d/a.md"])  # chunks go by ON DELETE CASCADE
    assert keyword_ids(store, "walrus", "okapi") == []
    assert fts_is_consistent(store)


def test_keyword_search_stems_folds_diacritics_and_ranks_by_bm25(store: Store) -> None:
    ids = add(store, "/d/a.md", ["Running shoes at the café", "a runner ran", "shoes shoes shoes"])
    assert set(keyword_ids(store, "run")) == {ids[0]}  # porter: running -> run; ran is not
    assert keyword_ids(store, "cafe") == [ids[0]]
    assert keyword_ids(store, "shoes")[0] == ids[2]  # more occurrences in a shorter text
    scores = [score for _, score in store.keyword_search(fts_query(["shoes"]), 5)]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_heading_weight_lifts_heading_matches(store: Store) -> None:
    ids = add(
        store,
        "/d/a.md",
        ["alpha beta gamma delta", "nothing to see"],
        headings=["", "Guide > Alpha"],
    )
    weighted = [i for i, _ in store.keyword_search(fts_query(["alpha"]), 5, heading_weight=10)]
    assert weighted[0] == ids[1]


def test_keyword_search_with_an_empty_query_returns_nothing(store: Store) -> None:
    add(store, "/d/a.md", ["some text"])
    assert store.keyword_search("", 10) == []


@pytest.mark.parametrize("create", [False, True])
def test_a_format_2_store_is_upgraded_with_its_keyword_index(tmp_path: Path, create: bool) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        store.write_manifest(MANIFEST)
        ids = add(store, "/d/a.md", ["the walrus sleeps", "zebras graze"])
    # What a format-2 store was: the same tables without the keyword index.
    run_sql(
        root,
        "DROP TRIGGER chunks_fts_insert; DROP TRIGGER chunks_fts_delete; "
        "DROP TRIGGER chunks_fts_update; DROP TABLE chunks_fts; "
        "UPDATE manifest SET value = '2' WHERE key = 'format_version';",
    )

    with Store.open(root, create=create, writable=True) as upgraded:
        assert upgraded.manifest == MANIFEST
        assert keyword_ids(upgraded, "zebras") == [ids[1]]
        new = add(upgraded, "/d/b.md", ["a walrus again"])
        assert set(keyword_ids(upgraded, "walrus")) == {ids[0], new[0]}
        assert fts_is_consistent(upgraded)
    with Store.open(root) as reopened:
        assert reopened.manifest == MANIFEST


def test_chunk_vectors_returns_cached_vectors_of_embedded_chunks(store: Store) -> None:
    ids = add(store, "/d/a.md", ["one", "two"])
    embedded = embed(store)
    add(store, "/d/b.md", ["three"])
    found = dict(store.chunk_vectors([*ids, 999], DIM))
    assert set(found) == set(ids) and len(embedded) == 2
    np.testing.assert_array_equal(found[ids[0]], vector_for("one"))


def test_a_database_left_before_its_schema_was_committed_is_no_store_yet(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    # What a first `rag ingest` killed between creating the file and committing the schema
    # leaves: a database with no tables.
    run_sql(root, "PRAGMA journal_mode=WAL;")
    with pytest.raises(StoreNotFoundError):
        Store.open(root)
    with Store.open(root, create=True) as store:
        assert store.manifest is None
        assert {"manifest", "documents", "chunks", "embeddings", "chunks_fts"} <= table_names(root)


# -- faults of the disk and of the store's files ---------------------------------------------


@contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of the given size at folder (root only; skipped where refused)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def take_lock(root: Path) -> None:
    with writer_lock(root, wait=False, on_wait=print):
        pass


def many_chunks(count: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(f"w{n}" for n in rng.integers(0, 10**6, size=60)) for _ in range(count)]


def test_a_full_disk_is_exit_10_and_keeps_the_last_committed_state(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "1m") as disk, Store.open(disk / "s", create=True) as s:
        kept = add(s, "docs/a.txt", ["a small first document"])
        with pytest.raises(StoreWriteError, match="disk is full") as raised:
            s.replace_document(
                source("docs/b.txt", sha="b"), "text", chunks("docs/b.txt", many_chunks(3000))
            )
        assert raised.value.exit_code == ExitCode.NOT_WRITABLE
        assert str(disk / "s" / DATABASE_NAME) in str(raised.value)
        assert s.chunk_ids().tolist() == kept and s.document_paths() == ["docs/a.txt"]


def test_no_room_for_the_index_file_is_exit_10(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "1m") as disk, Store.open(disk / "s", create=True) as s:
        s.write_manifest(MANIFEST)
        index = FaissHnswIndex.create(DIM, MANIFEST.hnsw)
        index.add(np.arange(1, 30001, dtype=np.int64), unit_vectors(30000))
        with pytest.raises(StoreWriteError, match="disk is full"):
            s.save_vectors(MANIFEST, index)
        assert s.open_vectors(MANIFEST) is None  # nothing half-written left behind
        assert not [name for name in os.listdir(s.root) if name.endswith(".part")]


def test_a_read_only_store_is_exit_10_naming_the_remedy(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        with Store.open(disk / "s", create=True) as opened:
            add(opened, "docs/a.txt", ["kept"])
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(StoreWriteError, match="Read-only file system") as raised:
            take_lock(disk / "s")
        assert "writable" in raised.value.hint
        with Store.open(disk / "s") as read_only:  # read-only media are still searchable
            assert read_only.document_paths() == ["docs/a.txt"]
            assert keyword_ids(read_only, "kept")
            with pytest.raises(StoreWriteError):
                add(read_only, "docs/b.txt", ["refused"])


def test_an_immutable_store_is_exit_10(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with Store.open(root, create=True) as opened:
        add(opened, "docs/a.txt", ["kept"])
    (root / LOCK_NAME).touch()
    marked = subprocess.run(["chattr", "+i", str(root / LOCK_NAME)], capture_output=True)
    if marked.returncode != 0:
        pytest.skip(f"chattr +i is refused here: {marked.stderr.decode().strip()}")
    try:
        with pytest.raises(StoreWriteError, match="cannot write"):
            take_lock(root)
    finally:
        subprocess.run(["chattr", "-i", str(root / LOCK_NAME)], check=False)


def test_a_directory_where_the_lock_file_goes_is_exit_10(tmp_path: Path) -> None:
    root = tmp_path / "s"
    (root / LOCK_NAME).mkdir(parents=True)
    with pytest.raises(StoreWriteError, match="something else is in its place") as raised:
        take_lock(root)
    assert str(root / LOCK_NAME) in str(raised.value)


# Opens a store's database as a reader would, says so, and keeps it open until stdin closes.
HOLD_OPEN = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("SELECT COUNT(*) FROM chunks").fetchall()
print("open", flush=True)
sys.stdin.readline()
db.close()
"""


def test_a_log_deleted_under_a_reader_refuses_writes_until_the_reader_is_gone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as opened:
        add(opened, "docs/a.txt", ["kept"])
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(root / DATABASE_NAME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        (root / f"{DATABASE_NAME}-wal").unlink()

        with pytest.raises(StoreCorruptError, match="write-ahead log") as raised:
            Store.open(root)
        assert "stop every rag process" in raised.value.hint
        assert not (root / f"{DATABASE_NAME}-wal").exists()  # no second log was started
    finally:
        reader.communicate("\n", timeout=30)
    with Store.open(root, writable=True) as reopened:
        add(reopened, "docs/b.txt", ["written once the reader is gone"])
    with Store.open(root) as again:
        assert again.document_paths() == ["docs/a.txt", "docs/b.txt"]


def test_a_log_deleted_while_writing_fails_the_write_instead_of_reporting_success(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "store", create=True, write=True)
    add(store, "docs/a.txt", ["first"])
    (store.root / f"{DATABASE_NAME}-wal").unlink()
    with pytest.raises(StoreCorruptError, match="deleted or replaced while this command wrote"):
        add(store, "docs/b.txt", ["second"])
    with pytest.raises(StoreCorruptError, match="deleted or replaced"):
        store.close()  # and its close says so too


def test_a_stale_wal_index_nobody_holds_is_no_fault(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as opened:
        add(opened, "docs/a.txt", ["kept"])
    (root / f"{DATABASE_NAME}-shm").write_bytes(bytes(32768))  # left by a killed process
    with Store.open(root, writable=True) as reopened:
        add(reopened, "docs/b.txt", ["more"])
        assert reopened.document_paths() == ["docs/a.txt", "docs/b.txt"]


def test_ingest_onto_a_full_disk_exits_10_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import run_rag

    docs = Path(__file__).resolve().parents[2] / "sample_docs"
    with small_tmpfs(tmp_path / "disk", "160k") as disk:
        code, _, err = run_rag(
            capsys,
            "ingest",
            str(docs),
            "--store",
            str(disk / "s"),
            "--embed-model",
            "fake:64",
            "-q",
        )
    assert code == ExitCode.NOT_WRITABLE, err
    assert "disk is full" in err and "internal error" not in err


# -- readers never write; the files a store owns are regular, its modes owner-only ----------

ROOT = Path(__file__).resolve().parents[2]


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def write_notes(folder: Path, *names: str) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.md").write_text(f"# {name}\n\nThe {name} note says {name} twice.\n")


def test_a_reader_opens_the_database_read_only(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as opened:
        add(opened, "docs/a.txt", ["kept"])
    with Store.open(root) as reader:
        assert reader.document_paths() == ["docs/a.txt"]
        with pytest.raises(StoreWriteError, match="readonly"):
            add(reader, "docs/b.txt", ["refused"])
    with Store.open(root, writable=True) as writer:  # the caller holds the lock (doctor)
        add(writer, "docs/b.txt", ["written"])
        assert writer.document_paths() == ["docs/a.txt", "docs/b.txt"]


def test_a_reader_opens_a_store_whose_writer_has_exited(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_notes(tmp_path / "docs", "walrus")
    done = rag("ingest", str(tmp_path / "docs"), "--store", str(store), "--embed-model", "fake:64")
    assert done.returncode == 0, done.stderr
    # The writer was the last connection: it checkpointed and took its -wal and -shm away.
    assert not (store / f"{DATABASE_NAME}-wal").exists()
    assert not (store / f"{DATABASE_NAME}-shm").exists()
    before = (store / DATABASE_NAME).read_bytes()
    for args in (("search", "walrus"), ("sources",), ("status",)):
        done = rag(*args, "--store", str(store))
        assert done.returncode == 0, (args, done.stderr)
    assert "walrus" in rag("search", "walrus", "--store", str(store)).stdout
    assert (store / DATABASE_NAME).read_bytes() == before


def test_a_reader_upgrades_an_older_store_then_reads_it_read_only(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as opened:
        add(opened, "docs/a.txt", ["kept"])
        opened.write_manifest(MANIFEST)
    run_sql(
        root,
        "ALTER TABLE chunks DROP COLUMN ocr; UPDATE manifest SET value = '4' "
        "WHERE key = 'format_version';",
    )
    with Store.open(root) as reader:
        assert reader.manifest is not None and reader.manifest.format_version == FORMAT_VERSION
        with pytest.raises(StoreWriteError):
            add(reader, "docs/b.txt", ["refused"])


def start_search_batch(store: Path) -> subprocess.Popen[str]:
    """`rag search -` reading questions from a pipe kept open, after its first answer."""
    reader = subprocess.Popen(
        [sys.executable, "-m", "ragcli", "search", "-", "--store", str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write("walrus\n")
    reader.stdin.flush()
    assert "walrus" in reader.stdout.readline()  # the reader has the store open
    return reader


def test_a_search_batch_never_checkpoints_over_a_writers_commit(tmp_path: Path) -> None:
    store, docs = tmp_path / "store", tmp_path / "docs"
    write_notes(docs, "walrus", "otter")
    ingest = ("--store", str(store), "--embed-model", "fake:64", "-q")
    assert rag("ingest", str(docs / "walrus.md"), *ingest).returncode == 0
    reader = start_search_batch(store)
    try:
        assert rag("ingest", str(docs / "otter.md"), *ingest).returncode == 0
        # The writer was not the last connection: its commit waits in the log.
        assert (store / f"{DATABASE_NAME}-wal").stat().st_size > 0
        database = (store / DATABASE_NAME).read_bytes()
    finally:
        _, reader_err = reader.communicate(timeout=60)
    assert reader.returncode == 0, reader_err
    # The last connection to close was the reader's: it wrote nothing, not even a checkpoint.
    assert (store / DATABASE_NAME).read_bytes() == database
    listed = rag("sources", "--store", str(store))
    assert "otter.md" in listed.stdout and "walrus.md" in listed.stdout, listed.stderr


def test_a_log_deleted_under_a_search_batch_never_loses_a_reported_ingest(
    tmp_path: Path,
) -> None:
    """The issue's steps with real processes: a `rag search -` batch keeps the store open."""
    store, docs = tmp_path / "store", tmp_path / "docs"
    write_notes(docs, "walrus")
    ingest = ("--store", str(store), "--embed-model", "fake:64", "-q")
    assert rag("ingest", str(docs / "walrus.md"), *ingest).returncode == 0
    reader = start_search_batch(store)
    try:
        write_notes(docs, "otter")
        assert rag("ingest", str(docs / "otter.md"), *ingest).returncode == 0
        (store / f"{DATABASE_NAME}-wal").unlink()
        write_notes(docs, "puffin")
        after = rag("ingest", str(docs / "puffin.md"), *ingest)
    finally:
        _, reader_err = reader.communicate(timeout=60)
    assert reader.returncode == 0, reader_err
    assert after.returncode == ExitCode.STORE_CORRUPT, after.stderr  # never a success
    assert "write-ahead log" in after.stderr and "rag doctor" in after.stderr
    # The reader gone, the store is sound again and takes the refused file.
    assert rag("doctor", "--store", str(store), "-q").returncode == 0
    assert rag("ingest", str(docs / "puffin.md"), *ingest).returncode == 0
    listed = rag("sources", "--store", str(store))
    assert "puffin.md" in listed.stdout and "walrus.md" in listed.stdout, listed.stderr


def raised_within(call: Callable[[], object], timeout_s: float = 10) -> BaseException | None:
    """What call raised (None: nothing); it fails the test if it has not ended in time."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test to judge
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"still blocked after {timeout_s} s"
    return outcome[0]


def test_a_fifo_or_a_device_where_the_index_goes_is_refused_at_once(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with indexed_store(root, ["a text", "another"]):
        pass
    index = root / "index.faiss"
    for make in (lambda: os.mkfifo(index), lambda: index.symlink_to("/dev/zero")):
        index.unlink()
        make()
        with Store.open(root) as reader:
            raised = raised_within(lambda reader=reader: reader.open_vectors(MANIFEST))
            assert isinstance(raised, StoreCorruptError) and "not a regular file" in str(raised)


@pytest.mark.parametrize("name", [DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm"])
def test_a_fifo_where_the_database_or_its_log_goes_is_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as opened:
        add(opened, "docs/a.txt", ["kept"])
    (root / name).unlink(missing_ok=True)
    os.mkfifo(root / name)
    raised = raised_within(lambda: Store.open(root, create=True, write=True).close())
    assert isinstance(raised, StoreCorruptError) and "not a regular file" in str(raised)
    assert raised.exit_code == ExitCode.STORE_CORRUPT and name in str(raised)


def test_a_fifo_where_the_lock_goes_is_exit_10(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    os.mkfifo(root / LOCK_NAME)
    with pytest.raises(StoreWriteError, match="something else is in its place"):
        take_lock(root)


def test_store_files_are_owner_writable_only_whatever_the_umask(tmp_path: Path) -> None:
    store = tmp_path / "deep" / "er" / "store"
    write_notes(tmp_path / "docs", "walrus")
    done = subprocess.run(
        [sys.executable, "-m", "ragcli", "ingest", str(tmp_path / "docs"), "--store", str(store)]
        + ["--embed-model", "fake:64", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        preexec_fn=lambda: os.umask(0),
    )
    assert done.returncode == 0, done.stderr
    made = [tmp_path / "deep", tmp_path / "deep" / "er", store, *store.iterdir()]
    assert {path.name for path in made} >= {DATABASE_NAME, "index.faiss", LOCK_NAME}
    for path in made:
        mode = path.stat().st_mode & 0o777
        assert mode & 0o022 == 0, (path, oct(mode))


def test_out_of_file_descriptors_is_its_own_exit_code(tmp_path: Path) -> None:
    """Each limit too low for a search fails where it runs out (the database, the index
    file, a module to import), always as exit 11 naming the cause; a higher one succeeds."""
    import resource

    store = tmp_path / "store"
    write_notes(tmp_path / "docs", "walrus")
    assert rag("ingest", str(tmp_path / "docs"), "--store", str(store), "--embed-model", "fake:64")
    failed = []
    for limit in (5, 6, 7, 8, 10, 12, 16, 24):
        done = subprocess.run(
            [sys.executable, "-m", "ragcli", "search", "walrus", "--store", str(store)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            preexec_fn=lambda limit=limit: resource.setrlimit(
                resource.RLIMIT_NOFILE, (limit, limit)
            ),
        )
        if done.returncode == 0:
            break
        failed.append(limit)
        assert done.returncode == ExitCode.SYSTEM_LIMIT, (limit, done.stderr)
        assert "too many open files" in done.stderr and done.stderr.count("\n") == 1
    else:
        pytest.fail("search never ran within 24 file descriptors")
    assert failed, "no limit was low enough to fail"


def test_a_log_deleted_after_the_last_commit_fails_the_writer_at_close(tmp_path: Path) -> None:
    root = tmp_path / "store"
    writer = Store.open(root, create=True, write=True)
    add(writer, "docs/a.txt", ["committed to the log"])
    (root / f"{DATABASE_NAME}-wal").unlink()
    with pytest.raises(StoreCorruptError, match="deleted or replaced") as raised:
        writer.close()
    assert "rag doctor" in raised.value.hint
    assert lock_is_free(root)  # closed all the same
    with Store.open(root) as reader:
        # The writer's was the last connection: closing, it checkpointed the deleted log.
        assert reader.document_paths() == ["docs/a.txt"]
