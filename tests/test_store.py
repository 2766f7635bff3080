"""ragcli.store: a real SQLite store in tmp_path, its manifest, chunks, vectors and files."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ragcli.backends.vectors import FaissHnswIndex
from ragcli.errors import StoreCorruptError, StoreNotFoundError
from ragcli.records import Chunk, ChunkingSettings, HnswSettings, Manifest, SourceFile
from ragcli.store import DATABASE_NAME, FORMAT_VERSION, Store, atomic_write_bytes

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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store", create=True) as opened:
        yield opened


def source(path: str, sha: str = "a") -> SourceFile:
    return SourceFile(path=path, size=100, mtime=1_700_000_000.5, sha256=sha * 64)


def chunks(path: str, texts: Sequence[str], page: int | None = None) -> list[Chunk]:
    return [
        Chunk(
            text=text,
            path=path,
            page=page,
            start_line=n + 1,
            end_line=n + 2,
            start_char=10 * n,
            end_char=10 * n + len(text),
            heading=f"Heading {n}" if n % 2 else "",
        )
        for n, text in enumerate(texts)
    ]


def add(store: Store, path: str, texts: Sequence[str], sha: str = "a") -> None:
    store.replace_document(source(path, sha), "text", 1, chunks(path, texts))


def all_ids(store: Store) -> list[int]:
    return [c.id for batch in store.iter_unembedded(1000) for c in batch if c.id is not None]


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_open_missing_store_raises_and_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(StoreNotFoundError):
        Store.open(root)
    assert not root.exists()


def test_open_existing_directory_without_database_raises(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        Store.open(tmp_path)


def test_open_with_create_makes_an_empty_store(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "store"
    with Store.open(root, create=True) as store:
        assert (root / DATABASE_NAME).is_file()
        assert store.manifest is None
        status = store.status()
    assert (status.documents, status.chunks, status.embedded, status.indexed) == (0, 0, 0, 0)
    assert status.index_bytes == 0
    with Store.open(root) as reopened:
        assert reopened.manifest is None


def test_manifest_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        store.write_manifest(MANIFEST)
        assert store.manifest == MANIFEST
    with Store.open(root) as reopened:
        assert reopened.manifest == MANIFEST
        changed = replace(MANIFEST, embedder="fake:8:64", chunking=ChunkingSettings(50, 5))
        reopened.write_manifest(changed)
        assert reopened.manifest == changed


def test_manifest_of_another_format_version_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        store.write_manifest(replace(MANIFEST, format_version=FORMAT_VERSION + 1))

    with pytest.raises(StoreCorruptError, match="format version"):
        Store.open(root)


def test_garbage_database_file_raises_store_corrupt(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / DATABASE_NAME).write_bytes(b"this is not an SQLite database " * 200)

    with pytest.raises(StoreCorruptError):
        Store.open(root)


def test_replace_document_replaces_chunks_and_never_reuses_ids(store: Store) -> None:
    add(store, "docs/a.txt", ["one", "two", "three"], sha="a")
    first = all_ids(store)
    add(store, "docs/a.txt", ["uno", "dos", "tres"], sha="b")
    second = all_ids(store)

    assert len(first) == len(second) == 3
    assert min(second) > max(first)
    assert store.status().documents == 1
    assert store.status().chunks == 3
    assert store.fingerprint("docs/a.txt") == "b" * 64
    assert store.chunks_by_id(first) == {}
    assert [store.chunks_by_id(second)[i].text for i in second] == ["uno", "dos", "tres"]


def test_replace_document_keeps_other_documents(store: Store) -> None:
    add(store, "docs/a.txt", ["a1", "a2"])
    add(store, "docs/b.txt", ["b1"])
    add(store, "docs/a.txt", ["a3"], sha="c")

    texts = sorted(c.text for batch in store.iter_unembedded(10) for c in batch)
    assert texts == ["a3", "b1"]
    assert store.fingerprint("docs/b.txt") == "a" * 64
    assert store.fingerprint("docs/missing.txt") is None


def test_iter_unembedded_yields_batches_in_id_order(store: Store) -> None:
    add(store, "docs/a.txt", [f"chunk {n}" for n in range(7)])

    batches = list(store.iter_unembedded(3))

    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [c for b in batches for c in b]
    assert [c.text for c in flat] == [f"chunk {n}" for n in range(7)]
    ids = [c.id for c in flat]
    assert ids == sorted(ids) and len(set(ids)) == 7


def test_iter_unembedded_skips_saved_and_survives_saving_while_iterating(store: Store) -> None:
    add(store, "docs/a.txt", [f"chunk {n}" for n in range(10)])
    seen: list[int] = []
    for batch in store.iter_unembedded(4):
        ids = [c.id for c in batch if c.id is not None]
        seen.extend(ids)
        store.save_embeddings(ids, unit_vectors(len(ids)))

    assert len(seen) == len(set(seen)) == 10
    assert list(store.iter_unembedded(4)) == []
    assert store.status().embedded == 10


def test_saved_embeddings_come_back_exactly(store: Store) -> None:
    add(store, "docs/a.txt", [f"chunk {n}" for n in range(6)])
    ids = all_ids(store)
    vectors = unit_vectors(6, seed=3)
    store.save_embeddings(ids[:4], vectors[:4])

    got_ids, got = store.embedded_vectors(DIM)

    assert got_ids.dtype == np.int64 and got.dtype == np.float32
    assert got_ids.tolist() == ids[:4]
    np.testing.assert_array_equal(got, vectors[:4])
    assert sorted(store.embedded_ids().tolist()) == ids[:4]
    assert [c.id for b in store.iter_unembedded(10) for c in b] == ids[4:]


def test_embedded_vectors_honours_exclude(store: Store) -> None:
    add(store, "docs/a.txt", [f"chunk {n}" for n in range(5)])
    ids = all_ids(store)
    vectors = unit_vectors(5, seed=4)
    store.save_embeddings(ids, vectors)

    got_ids, got = store.embedded_vectors(DIM, exclude={ids[1], ids[3], 10**9})

    assert got_ids.tolist() == [ids[0], ids[2], ids[4]]
    np.testing.assert_array_equal(got, vectors[[0, 2, 4]])


def test_embedded_vectors_of_empty_store(store: Store) -> None:
    ids, vectors = store.embedded_vectors(DIM)
    assert ids.shape == (0,)
    assert vectors.shape == (0, DIM)


def test_chunks_by_id_returns_stored_fields(store: Store) -> None:
    written = chunks("docs/p.pdf", ["first page text", "second bit"], page=2)
    store.replace_document(source("docs/p.pdf"), "pdf", 2, written)
    ids = all_ids(store)

    found = store.chunks_by_id([ids[1], ids[0], 10**9])

    assert set(found) == set(ids)
    for chunk_id, expected in zip(ids, written, strict=True):
        assert found[chunk_id] == replace(expected, id=chunk_id)
    assert store.chunks_by_id([]) == {}


def test_status_counts_documents_chunks_embedded_and_indexed(store: Store) -> None:
    store.write_manifest(MANIFEST)
    add(store, "docs/a.txt", ["a1", "a2", "a3"])
    add(store, "docs/b.txt", ["b1", "b2"])
    ids = all_ids(store)
    store.save_embeddings(ids[:2], unit_vectors(2))

    before = store.status()
    index = FaissHnswIndex.create(DIM, MANIFEST.hnsw)
    index.add(np.asarray(ids[:2], dtype=np.int64), unit_vectors(2))
    store.write_index(index)
    after = store.status()

    assert (before.documents, before.chunks, before.embedded, before.indexed) == (2, 5, 2, 0)
    assert before.index_bytes == 0
    assert before.manifest == MANIFEST
    assert after.indexed == 2
    assert after.index_bytes == store.index_path.stat().st_size > 0


def test_index_file_round_trip_through_store(store: Store) -> None:
    assert store.read_index(MANIFEST.hnsw) is None
    index = FaissHnswIndex.create(DIM, MANIFEST.hnsw)
    index.add(np.arange(10, 15, dtype=np.int64), unit_vectors(5))
    store.write_index(index)

    loaded = store.read_index(MANIFEST.hnsw)

    assert loaded is not None
    assert loaded.ids().tolist() == [10, 11, 12, 13, 14]
    assert not [name for name in os.listdir(store.root) if name.endswith(".part")]


def test_garbage_index_file_raises_store_corrupt(store: Store) -> None:
    store.index_path.write_bytes(b"not a faiss index" * 50)
    with pytest.raises(StoreCorruptError):
        store.read_index(MANIFEST.hnsw)


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


def test_failed_replace_document_leaves_no_partial_rows(store: Store) -> None:
    add(store, "docs/a.txt", ["kept one", "kept two"], sha="a")
    before = all_ids(store)
    broken = chunks("docs/a.txt", ["new one", "new two"])
    broken[1] = replace(broken[1], text=None)  # type: ignore[arg-type]

    with pytest.raises(sqlite3.IntegrityError):
        store.replace_document(source("docs/a.txt", sha="b"), "text", 1, broken)

    assert store.fingerprint("docs/a.txt") == "a" * 64
    assert all_ids(store) == before
    assert [store.chunks_by_id(before)[i].text for i in before] == ["kept one", "kept two"]
    status = store.status()
    assert (status.documents, status.chunks) == (1, 2)
    add(store, "docs/b.txt", ["still writable"])
    assert store.status().chunks == 3


def test_transaction_rolls_back_on_keyboard_interrupt(store: Store) -> None:
    add(store, "docs/a.txt", ["survives"])

    with pytest.raises(KeyboardInterrupt), store._transaction():
        store._db.execute("DELETE FROM documents")
        raise KeyboardInterrupt

    assert store.fingerprint("docs/a.txt") == "a" * 64
    assert store.status().chunks == 1


def test_committed_rows_are_visible_to_a_new_connection(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with Store.open(root, create=True) as store:
        add(store, "docs/a.txt", ["durable"])
        ids = all_ids(store)
        store.save_embeddings(ids, unit_vectors(1))

    with Store.open(root) as reopened:
        assert [c.text for c in reopened.chunks_by_id(ids).values()] == ["durable"]
        np.testing.assert_array_equal(reopened.embedded_vectors(DIM)[1], unit_vectors(1))
