"""ragcli.vectors.faiss_hnsw: the FAISS HNSW index, its file format and its recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragcli.errors import StoreCorruptError
from ragcli.records import HnswSettings
from ragcli.vectors.base import IndexFigures, VectorIndex
from ragcli.vectors.exact import exact_search
from ragcli.vectors.faiss_hnsw import FaissHnswIndex

SMALL = HnswSettings(m=16, ef_construction=64, ef_search=64)


def unit_vectors(count: int, dimension: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def filled() -> tuple[FaissHnswIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    vectors = unit_vectors(200, 32, rng)
    ids = np.arange(1000, 1200, dtype=np.int64)[::-1].copy()  # ids unrelated to positions
    index = FaissHnswIndex.create(32, SMALL)
    index.add(ids, vectors)
    return index, ids, vectors


def test_create_gives_an_empty_index() -> None:
    index = FaissHnswIndex.create(16, SMALL)
    assert len(index) == 0
    assert index.dimension == 16
    assert index.ids().tolist() == []
    assert index.search(np.ones(16, dtype=np.float32) / 4, 5) == []


def test_add_keeps_ids_in_insertion_order(
    filled: tuple[FaissHnswIndex, np.ndarray, np.ndarray],
) -> None:
    index, ids, _ = filled
    more = np.asarray([7, 3, 5], dtype=np.int64)
    index.add(more, unit_vectors(3, 32, np.random.default_rng(1)))
    index.add(np.asarray([], dtype=np.int64), np.zeros((0, 32), dtype=np.float32))

    assert len(index) == 203
    assert index.ids().tolist() == ids.tolist() + [7, 3, 5]


def test_search_finds_stored_vector_first_with_cosine_scores(
    filled: tuple[FaissHnswIndex, np.ndarray, np.ndarray],
) -> None:
    index, ids, vectors = filled
    for row in (0, 57, 199):
        hits = index.search(vectors[row], 10)

        assert len(hits) == 10
        assert hits[0][0] == ids[row]
        assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
        scores = [score for _, score in hits]
        assert scores == sorted(scores, reverse=True)
        position = {int(i): n for n, i in enumerate(ids)}
        for hit_id, score in hits:
            assert score == pytest.approx(float(vectors[position[hit_id]] @ vectors[row]), abs=1e-5)


def test_search_k_larger_than_index_and_k_zero() -> None:
    index = FaissHnswIndex.create(8, SMALL)
    vectors = unit_vectors(3, 8, np.random.default_rng(2))
    index.add(np.asarray([10, 20, 30], dtype=np.int64), vectors)

    assert sorted(i for i, _ in index.search(vectors[0], 50)) == [10, 20, 30]
    assert index.search(vectors[0], 0) == []


def test_round_trip_through_a_file(
    tmp_path: Path, filled: tuple[FaissHnswIndex, np.ndarray, np.ndarray]
) -> None:
    index, ids, vectors = filled
    path = tmp_path / "index.faiss"
    path.write_bytes(index.to_bytes())
    queries = unit_vectors(5, 32, np.random.default_rng(9))

    loaded = FaissHnswIndex.read(path, SMALL)

    assert len(loaded) == len(index) == 200
    assert loaded.dimension == 32
    assert loaded.ids().tolist() == ids.tolist()
    for query in [*queries, vectors[3]]:
        assert loaded.search(query, 10) == index.search(query, 10)
    assert loaded.to_bytes() == index.to_bytes()


def test_loaded_index_can_grow(
    tmp_path: Path, filled: tuple[FaissHnswIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, _ = filled
    path = tmp_path / "index.faiss"
    path.write_bytes(index.to_bytes())
    loaded = FaissHnswIndex.read(path, SMALL)
    extra = unit_vectors(1, 32, np.random.default_rng(5))

    loaded.add(np.asarray([5], dtype=np.int64), extra)

    assert len(loaded) == 201
    assert loaded.search(extra[0], 1)[0][0] == 5


def test_empty_index_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "index.faiss"
    path.write_bytes(FaissHnswIndex.create(8, SMALL).to_bytes())

    loaded = FaissHnswIndex.read(path, SMALL)

    assert len(loaded) == 0
    assert loaded.search(np.ones(8, dtype=np.float32), 3) == []


@pytest.mark.parametrize("content", ["garbage", "truncated", "empty", "missing"])
def test_reading_a_bad_file_raises_store_corrupt(
    tmp_path: Path, filled: tuple[FaissHnswIndex, np.ndarray, np.ndarray], content: str
) -> None:
    path = tmp_path / "index.faiss"
    whole = filled[0].to_bytes()
    data = {
        "garbage": np.random.default_rng(0).bytes(5000),
        "truncated": whole[: len(whole) // 2],
        "empty": b"",
    }
    if content in data:
        path.write_bytes(data[content])

    with pytest.raises(StoreCorruptError):
        FaissHnswIndex.read(path, SMALL)


def test_reading_a_faiss_file_of_another_index_type_raises_store_corrupt(tmp_path: Path) -> None:
    # A valid FAISS file of another index type is a corrupt store, not an internal error.
    import faiss

    path = tmp_path / "index.faiss"
    faiss.write_index(faiss.IndexFlatIP(8), str(path))

    with pytest.raises(StoreCorruptError):
        FaissHnswIndex.read(path, SMALL)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_reading_a_fifo_or_dev_zero_raises_store_corrupt_at_once(tmp_path: Path, kind: str) -> None:
    import os
    import threading

    path = tmp_path / "index.faiss"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    raised: list[BaseException] = []

    def read() -> None:
        try:
            FaissHnswIndex.read(path, SMALL)
        except BaseException as exc:  # judged below
            raised.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "blocked on a file that is not regular"
    assert len(raised) == 1 and isinstance(raised[0], StoreCorruptError), raised


def test_exact_search_ranks_by_inner_product() -> None:
    vectors = np.asarray([[1, 0], [0, 1], [0.6, 0.8], [-1, 0]], dtype=np.float32)
    ids = np.asarray([11, 22, 33, 44], dtype=np.int64)

    hits = exact_search(vectors, ids, np.asarray([0.8, 0.6], dtype=np.float32), 3)

    assert [i for i, _ in hits] == [33, 11, 22]
    assert [s for _, s in hits] == pytest.approx([0.96, 0.8, 0.6])


def test_hnsw_recall_at_10_against_exact_search() -> None:
    rng = np.random.default_rng(0)
    vectors = unit_vectors(3000, 384, rng)
    ids = np.arange(1, 3001, dtype=np.int64) * 7
    queries = unit_vectors(100, 384, rng)
    index = FaissHnswIndex.create(384, HnswSettings())
    index.add(ids, vectors)

    found = 0
    for query in queries:
        approximate = {i for i, _ in index.search(query, 10)}
        exact = {i for i, _ in exact_search(vectors, ids, query, 10)}
        found += len(approximate & exact)
    recall = found / (10 * len(queries))

    # Random 384-d vectors are a hard case: efSearch=128 gave 0.984-0.997 over ten seeds.
    assert recall >= 0.99, f"recall@10 = {recall:.3f}"


def test_an_index_describes_its_kind_size_and_parameters(
    filled: tuple[FaissHnswIndex, np.ndarray, np.ndarray],
) -> None:
    index, ids, _ = filled
    assert index.describe() == IndexFigures("faiss-hnsw", len(ids), 32, SMALL)


def test_the_factory_builds_saves_and_reads_a_faiss_store_behind_the_protocol(
    tmp_path: Path,
) -> None:
    from ragcli.records import ChunkingSettings, Manifest
    from ragcli.store import FORMAT_VERSION, Store
    from ragcli.vectors.factory import backend_for

    manifest = Manifest(FORMAT_VERSION, "fake:8", 8, 64, True, ChunkingSettings(64, 8), SMALL)
    with Store.open(tmp_path / "store", create=True, write=True) as store:
        store.write_manifest(manifest)
        backend = backend_for(manifest, store)
        assert not backend.exists() and backend.open() is None
        made: VectorIndex = backend.create()
        made.add(np.array([7], dtype=np.int64), np.ones((1, 8), dtype=np.float32) / np.sqrt(8))
        backend.save(made)
        loaded = backend.open()
    assert loaded is not None and loaded.verified
    assert loaded.describe() == made.describe() == IndexFigures("faiss-hnsw", 1, 8, SMALL)
    assert loaded.ids().tolist() == [7]
