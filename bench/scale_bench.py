"""Scale benchmark: how index build, search latency, recall and memory grow with the store.

Prints one table. Run: python bench/scale_bench.py [--sizes 10000,100000,1000000]
    [--work-dir DIR] [--queries 200] [--clusters 1000] [--noise 1.0]
Each size is a real store (SQLite rows, FTS5, embedding cache) filled with synthetic
chunks and clustered unit vectors, so no embedding model runs: the store's embedder is the
`fake:384` hashing embedder, which `rag search` loads in no time. The full run (1M) needs
about 7 GB of disk (TMPDIR, or --work-dir) and about 6 GiB of memory: writing a 1.7 GB
index holds it in memory three times (the index, its serialised array, that array's bytes).

The vectors are drawn around --clusters random unit centres with isotropic gaussian noise;
neighbours of a query are then points of its own cluster, so the search gets harder as the
clusters grow (N / --clusters points each), not with N alone.

The Milvus table (issue 14) fills a second store of the same chunks and vectors whose
manifest names Milvus Lite (`milvus:///<store>/vectors.db`), builds it with the same
`update_index` the CLI runs (upserts, flush, HNSW M 32 / efConstruction 200, inner product)
in a child process, then searches it from a fresh process: the open-and-load every `rag`
command pays, per-query latency and recall@10 against the same exact search, and the real
`rag search`. Sizes above --milvus-max (100,000 by default) are left out of it: Milvus Lite
held 2.3 GB while writing 100k vectors (about 15x the raw vectors), so 1M would not fit here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from core_bench import RAG, measured, sample_sentences  # noqa: E402

from ragcli.indexing import update_index  # noqa: E402
from ragcli.records import DEFAULT_CHUNKING, DEFAULT_HNSW, Chunk, Manifest, SourceFile  # noqa: E402  # noqa: E402
from ragcli.retrieval.keywords import STOPWORDS  # noqa: E402
from ragcli.retrieval.retriever import RetrievalSettings  # noqa: E402
from ragcli.store import DATABASE_NAME, FORMAT_VERSION, Store  # noqa: E402
from ragcli.vectors.faiss_hnsw import FaissHnswIndex  # noqa: E402
from tests.fakes import share_with_subprocesses  # noqa: E402

# The store's embedder is the tests' hashing double: registered here by the import above,
# and for the `rag search` processes this starts (ragcli/plugins.py).
share_with_subprocesses()

if TYPE_CHECKING:
    from numpy.typing import NDArray

DIMENSION = 384
EMBEDDER = f"fake:{DIMENSION}"
CHUNKS_PER_DOCUMENT = 1_000
WORDS_PER_CHUNK = 8
TOP_K = 10
WARM_UP_QUERIES = 20
# Targets from the scaling issue, for a 1M-chunk store (reported, never asserted).
TARGET_P50_MS = 5.0
TARGET_RECALL = 0.95
EF_SEARCH_TRADE_OFF = (64, 128)


@dataclass(frozen=True)
class Synthetic:
    """How the synthetic corpus is drawn: seed and spread of the vectors around centres."""

    seed: int = 7
    clusters: int = 1_000
    # Norm of the gaussian noise added to a unit centre before normalising: 1.0 puts a
    # point at cosine ~0.7 from its centre and ~0.5 from its cluster's other points.
    noise: float = 1.0


@dataclass(frozen=True)
class Latency:
    """Per-query search times and recall@k against exact search, at one efSearch and k.

    Timed twice: with FAISS's default OpenMP threads, as `rag search` runs, and with one.
    IndexIDMap opens an OpenMP team for every search, even of one query, so on a busy
    machine a search can wait a scheduler slice (~8 ms) for the second thread; the
    one-thread figures are the search's own cost.
    """

    p50_ms: float
    p95_ms: float
    single_p50_ms: float
    single_p95_ms: float
    recall: float


@dataclass(frozen=True)
class SizeResult:
    """What one store size measured."""

    chunks: int
    fill_s: float
    build_s: float
    index_mib: float
    sqlite_mib: float
    search: Latency
    dense_rss_mib: float
    dense_wall_s: float
    keyword_rss_mib: float
    keyword_wall_s: float


def vocabulary() -> list[str]:
    """Distinct lower-case words of sample_docs/, so FTS5 indexes real-looking text."""
    words = re.findall(r"[a-z]{3,}", " ".join(sample_sentences()).lower())
    return sorted(set(words) - STOPWORDS)


def unit_rows(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """Scale each row to length 1."""
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def near(
    centres: NDArray[np.float32], count: int, noise: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    """Draw count unit vectors around randomly chosen centres."""
    picked = centres[rng.integers(0, len(centres), size=count)]
    spread = rng.standard_normal((count, DIMENSION), dtype=np.float32)
    return unit_rows(picked + spread * (noise / np.sqrt(DIMENSION)))


def synthetic_documents(
    count: int, synthetic: Synthetic
) -> Iterator[tuple[SourceFile, list[Chunk], NDArray[np.float32]]]:
    """Yield documents of CHUNKS_PER_DOCUMENT distinct chunks, with one vector per chunk."""
    rng = np.random.default_rng(synthetic.seed)
    centres = unit_rows(rng.standard_normal((synthetic.clusters, DIMENSION), dtype=np.float32))
    words, pick = vocabulary(), random.Random(synthetic.seed)
    for first in range(0, count, CHUNKS_PER_DOCUMENT):
        path = f"/synthetic/doc{first // CHUNKS_PER_DOCUMENT:05d}.txt"
        chunks, offset = [], 0
        for ordinal, number in enumerate(range(first, min(count, first + CHUNKS_PER_DOCUMENT))):
            text = f"synthetic chunk {number} " + " ".join(pick.choices(words, k=WORDS_PER_CHUNK))
            chunks.append(
                Chunk(text, path, None, ordinal + 1, ordinal + 1, offset, offset + len(text))
            )
            offset += len(text) + 1
        digest = hashlib.sha256(path.encode()).hexdigest()
        yield (
            SourceFile(path, offset, 0.0, digest),
            chunks,
            near(centres, len(chunks), synthetic.noise, rng),
        )


def query_vectors(count: int, synthetic: Synthetic) -> NDArray[np.float32]:
    """Queries drawn like the stored vectors (same centres), but not among them."""
    centres_rng = np.random.default_rng(synthetic.seed)
    centres = unit_rows(
        centres_rng.standard_normal((synthetic.clusters, DIMENSION), dtype=np.float32)
    )
    return near(centres, count, synthetic.noise, np.random.default_rng(synthetic.seed + 1))


def store_dir(work: Path, chunks: int, synthetic: Synthetic) -> Path:
    """Where the store of one size and corpus lives, so a kept store is reused only as is."""
    return work / f"n{chunks}-c{synthetic.clusters}-noise{synthetic.noise:g}-s{synthetic.seed}"


def fill_store(root: Path, chunks: int, synthetic: Synthetic, vectors: str = "faiss") -> float:
    """Create a store of synthetic chunks and cached vectors; return seconds (0 if reused).

    `vectors` is the store's vector backend URI, as `rag ingest --vectors` records it.
    """
    if (root / DATABASE_NAME).is_file():
        with Store.open(root) as store:
            if store.chunk_ids().size == chunks:
                return 0.0
        raise SystemExit(f"{root} holds another store; pass an empty --work-dir")
    started = time.perf_counter()
    with Store.open(root, create=True) as store:
        store.write_manifest(
            Manifest(
                FORMAT_VERSION,
                EMBEDDER,
                DIMENSION,
                256,
                True,
                DEFAULT_CHUNKING,
                DEFAULT_HNSW,
                vectors=vectors,
                vector_collection=None if vectors == "faiss" else "bench",
            )
        )
        for source, batch, vectors in synthetic_documents(chunks, synthetic):
            store.replace_document(source, "text", batch)
            store.save_embeddings(batch, vectors)
    return time.perf_counter() - started


def exact_top_k(store: Store, queries: NDArray[np.float32], k: int) -> list[set[int]]:
    """The true k nearest ids of each query: `exact_search`'s inner product, in batches."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    for ids, vectors in store.iter_embedded_vectors(DIMENSION):
        scores = np.concatenate([best_scores, queries @ vectors.T], axis=1)
        candidates = np.concatenate(
            [best_ids, np.broadcast_to(ids, (len(queries), len(ids)))], axis=1
        )
        keep = (
            np.argpartition(-scores, k - 1, axis=1)[:, :k]
            if scores.shape[1] > k
            else np.argsort(-scores, axis=1)
        )
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_ids = np.take_along_axis(candidates, keep, axis=1)
    return [set(row.tolist()) for row in best_ids]


def percentiles(times_s: list[float]) -> tuple[float, float]:
    """Return the median and 95th percentile of times, in milliseconds."""
    times_ms = sorted(t * 1000 for t in times_s)
    p95 = times_ms[min(len(times_ms) - 1, round(0.95 * len(times_ms)) - 1)]
    return statistics.median(times_ms), p95


def search_times(
    index: FaissHnswIndex, queries: NDArray[np.float32], k: int
) -> tuple[list[float], list[set[int]]]:
    """Time one search call per query, as `rag search` makes them; return times and top ids.

    The first queries are run once untimed: the first searches fault the index's pages in.
    """
    for query in queries[:WARM_UP_QUERIES]:
        index.search(query, k)
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = index.search(query, k)
        times.append(time.perf_counter() - started)
        found.append({chunk_id for chunk_id, _ in hits[:TOP_K]})
    return times, found


def timed_searches(
    index: FaissHnswIndex, queries: NDArray[np.float32], k: int, truth: list[set[int]]
) -> Latency:
    """Latency with the default and with one OpenMP thread, and recall@TOP_K."""
    times, found = search_times(index, queries, k)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        single_times, _ = search_times(index, queries, k)
    finally:
        faiss.omp_set_num_threads(threads)
    recall = statistics.fmean(len(f & t) / len(t) for f, t in zip(found, truth, strict=True))
    return Latency(*percentiles(times), *percentiles(single_times), recall)


def rag_search(root: Path, mode: str, query: str) -> tuple[float, float]:
    """Run the real `rag search` once in a fresh process; return (wall s, peak RSS MiB)."""
    return measured([*RAG, "search", query, "--store", str(root), "--mode", mode])


def mebibytes(*paths: Path) -> float:
    """Total size on disk of the files that exist among paths, in MiB."""
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def measure_size(
    root: Path, chunks: int, queries: NDArray[np.float32], synthetic: Synthetic
) -> tuple[SizeResult, list[set[int]]]:
    """Fill (or reuse) one store, build its index and measure search in and out of process."""
    note(f"{chunks:,} chunks: filling the store in {root}")
    fill_s = fill_store(root, chunks, synthetic)
    with Store.open(root) as store:
        manifest = store.manifest
        assert manifest is not None
        note(f"{chunks:,} chunks: building the index (filled in {fill_s:.0f} s)")
        started = time.perf_counter()
        update_index(store, manifest, rebuild=True)
        build_s = time.perf_counter() - started
        index_path = store.index_path
        note(f"{chunks:,} chunks: exact search for recall (built in {build_s:.0f} s)")
        truth = exact_top_k(store, queries, TOP_K)
    index = FaissHnswIndex.read(index_path, manifest.hnsw)
    search = timed_searches(index, queries, TOP_K, truth)
    del index
    words = vocabulary()
    dense_wall, dense_rss = rag_search(root, "dense", " ".join(words[:3]))
    keyword_wall, keyword_rss = rag_search(root, "keyword", " ".join(words[-2:]))
    database = root / DATABASE_NAME
    sqlite_mib = mebibytes(database, database.with_name(DATABASE_NAME + "-wal"))
    result = SizeResult(
        chunks,
        fill_s,
        build_s,
        mebibytes(index_path),
        sqlite_mib,
        search,
        dense_rss,
        dense_wall,
        keyword_rss,
        keyword_wall,
    )
    return result, truth


def trade_off(
    root: Path, queries: NDArray[np.float32], truth: list[set[int]]
) -> list[tuple[str, Latency]]:
    """Latency and recall at lower efSearch, and at the depth `rag search` really asks for."""
    with Store.open(root) as store:
        manifest = store.manifest
        index_path = store.index_path
    assert manifest is not None
    rows = []
    for ef_search in EF_SEARCH_TRADE_OFF:
        index = FaissHnswIndex.read(index_path, replace(manifest.hnsw, ef_search=ef_search))
        rows.append(
            (f"efSearch {ef_search}, k {TOP_K}", timed_searches(index, queries, TOP_K, truth))
        )
        del index
    # Dense and hybrid retrieval take this many candidates, and FAISS searches with
    # max(efSearch, k): this is the search a `rag search` or `rag ask` query makes.
    depth = RetrievalSettings(mode="dense").candidates
    index = FaissHnswIndex.read(index_path, manifest.hnsw)
    rows.append(
        (
            f"efSearch {manifest.hnsw.ef_search}, k {depth} (rag search's depth)",
            timed_searches(index, queries, depth, truth),
        )
    )
    return rows


@dataclass(frozen=True)
class MilvusResult:
    """What one size measured on a Milvus Lite store (the vector side only)."""

    chunks: int
    build_s: float
    build_rss_mib: float
    disk_mib: float
    open_s: float
    search: Latency
    reader_rss_mib: float
    rag_wall_s: float
    rag_rss_mib: float


def milvus_uri(root: Path) -> str:
    """The Milvus Lite URI of a bench store: a database beside its SQLite file."""
    return f"milvus://{root.resolve() / 'vectors.db'}"


def child_command(step: str, root: Path, synthetic: Synthetic, queries: int) -> list[str]:
    """This script run as a child doing one Milvus step, so its peak RSS is its own."""
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        step,
        "--work-dir",
        str(root),
        "--clusters",
        str(synthetic.clusters),
        "--noise",
        f"{synthetic.noise:g}",
        "--queries",
        str(queries),
    ]


def milvus_build(root: Path) -> None:
    """Child: build the store's Milvus collection as `rag index --rebuild` does; time it all.

    The time runs until the store is closed: Milvus Lite finishes its HNSW build then.
    """
    started = time.perf_counter()
    with Store.open(root, write=True) as store:
        manifest = store.manifest
        assert manifest is not None
        update_index(store, manifest, rebuild=True)
    (root / "build.json").write_text(json.dumps({"build_s": time.perf_counter() - started}))


def milvus_search(root: Path, queries: NDArray[np.float32]) -> None:
    """Child: open the collection as `rag search` does, then time searches and recall."""
    truth = [set(row) for row in json.loads((root / "truth.json").read_text())]
    with Store.open(root) as store:
        manifest = store.manifest
        assert manifest is not None
        started = time.perf_counter()
        index = store.open_vectors(manifest)
        open_s = time.perf_counter() - started
    assert index is not None
    try:
        for query in queries[:WARM_UP_QUERIES]:
            index.search(query, TOP_K)
        times, found = [], []
        for query in queries:
            started = time.perf_counter()
            hits = index.search(query, TOP_K)
            times.append(time.perf_counter() - started)
            found.append({chunk_id for chunk_id, _ in hits})
    finally:
        index.close()
    recall = statistics.fmean(len(f & t) / len(t) for f, t in zip(found, truth, strict=True))
    p50, p95 = percentiles(times)
    figures = {"open_s": open_s, "p50_ms": p50, "p95_ms": p95, "recall": recall}
    (root / "search.json").write_text(json.dumps(figures))


def measure_milvus(
    root: Path, chunks: int, synthetic: Synthetic, queries: int, truth: list[set[int]]
) -> MilvusResult:
    """Fill a Milvus-backed store of the same corpus; build and search it in child processes."""
    note(f"{chunks:,} chunks, Milvus Lite: filling the store in {root}")
    fill_store(root, chunks, synthetic, vectors=milvus_uri(root))
    (root / "truth.json").write_text(json.dumps([sorted(ids) for ids in truth]))
    note(f"{chunks:,} chunks, Milvus Lite: building the collection")
    _, build_rss = measured(child_command("milvus-build", root, synthetic, queries))
    build_s = json.loads((root / "build.json").read_text())["build_s"]
    note(f"{chunks:,} chunks, Milvus Lite: searching (built in {build_s:.0f} s)")
    _, reader_rss = measured(child_command("milvus-search", root, synthetic, queries))
    figures = json.loads((root / "search.json").read_text())
    rag_wall, rag_rss = rag_search(root, "dense", " ".join(vocabulary()[:3]))
    disk = sum(p.stat().st_size for p in (root / "vectors.db").rglob("*") if p.is_file())
    return MilvusResult(
        chunks,
        build_s,
        build_rss,
        disk / 2**20,
        figures["open_s"],
        Latency(figures["p50_ms"], figures["p95_ms"], math.nan, math.nan, figures["recall"]),
        reader_rss,
        rag_wall,
        rag_rss,
    )


def print_milvus(results: list[MilvusResult], faiss_results: list[SizeResult]) -> None:
    """The Milvus Lite table, beside the FAISS figures of the same sizes."""
    if not results:
        return
    print()
    print(
        "Milvus Lite (milvus:///store/vectors.db; HNSW M 32, efConstruction 200, ef 256, IP), "
        "same chunks and queries; FAISS figures of the same size in brackets"
    )
    faiss_of = {r.chunks: r for r in faiss_results}
    header = (
        "chunks",
        "build s",
        "build RSS MiB",
        "disk MiB",
        "open+load s",
        "p50 ms",
        "p95 ms",
        f"recall@{TOP_K}",
        "reader RSS MiB",
        "rag search wall s",
        "rag search RSS MiB",
    )
    rows = []
    for r in results:
        f = faiss_of[r.chunks]
        rows.append(
            (
                f"{r.chunks:,}",
                f"{r.build_s:.1f} [{f.build_s:.1f}]",
                f"{r.build_rss_mib:.0f}",
                f"{r.disk_mib:.0f} [{f.index_mib:.0f}]",
                f"{r.open_s:.2f}",
                f"{r.search.p50_ms:.2f} [{f.search.p50_ms:.2f}]",
                f"{r.search.p95_ms:.2f} [{f.search.p95_ms:.2f}]",
                f"{r.search.recall:.3f} [{f.search.recall:.3f}]",
                f"{r.reader_rss_mib:.0f}",
                f"{r.rag_wall_s:.2f} [{f.dense_wall_s:.2f}]",
                f"{r.rag_rss_mib:.0f} [{f.dense_rss_mib:.0f}]",
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def note(message: str) -> None:
    """Progress on stderr; stdout carries the table only."""
    print(message, file=sys.stderr, flush=True)


def print_results(
    results: list[SizeResult], extra: list[tuple[str, Latency]], synthetic: Synthetic
) -> None:
    """Print the table, the latency growth between sizes and the largest size's trade-off."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(
        f"ragcli scale benchmark ({machine}, {faiss.omp_get_max_threads()} OpenMP threads; "
        f"{EMBEDDER} store, vectors around "
        f"{synthetic.clusters} centres, noise {synthetic.noise:g}; HNSW M {DEFAULT_HNSW.m}, "
        f"efConstruction {DEFAULT_HNSW.ef_construction}, efSearch {DEFAULT_HNSW.ef_search})"
    )
    header = (
        "chunks",
        "fill s",
        "build s",
        "index MiB",
        "sqlite MiB",
        "p50 ms",
        "p95 ms",
        "1t p50",
        "1t p95",
        f"recall@{TOP_K}",
        "dense RSS MiB",
        "dense wall s",
        "kw RSS MiB",
        "kw wall s",
    )
    rows = [
        (
            f"{r.chunks:,}",
            f"{r.fill_s:.1f}",
            f"{r.build_s:.1f}",
            f"{r.index_mib:.0f}",
            f"{r.sqlite_mib:.0f}",
            f"{r.search.p50_ms:.2f}",
            f"{r.search.p95_ms:.2f}",
            f"{r.search.single_p50_ms:.2f}",
            f"{r.search.single_p95_ms:.2f}",
            f"{r.search.recall:.3f}",
            f"{r.dense_rss_mib:.0f}",
            f"{r.dense_wall_s:.2f}",
            f"{r.keyword_rss_mib:.0f}",
            f"{r.keyword_wall_s:.2f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    print("(p50/p95: default OpenMP threads, as rag search runs; 1t: one OpenMP thread)")
    for smaller, larger in zip(results, results[1:], strict=False):
        size_ratio = larger.chunks / smaller.chunks
        for label, before, after in (
            ("p50", smaller.search.p50_ms, larger.search.p50_ms),
            ("1t p50", smaller.search.single_p50_ms, larger.search.single_p50_ms),
        ):
            verdict = "sub-linear" if after / before < size_ratio else "NOT sub-linear"
            print(
                f"{label} {smaller.chunks:,} -> {larger.chunks:,}: x{after / before:.2f} "
                f"for x{size_ratio:.0f} the chunks ({verdict})"
            )
    largest = results[-1]
    print(
        f"targets at 1,000,000: p50 <= {TARGET_P50_MS:g} ms, recall@{TOP_K} >= "
        f"{TARGET_RECALL:g}; at {largest.chunks:,}: p50 {largest.search.p50_ms:.2f} ms "
        f"(1t {largest.search.single_p50_ms:.2f} ms), recall {largest.search.recall:.3f}"
    )
    for name, latency in extra:
        print(
            f"at {largest.chunks:,}, {name}: p50 {latency.p50_ms:.2f} ms, "
            f"p95 {latency.p95_ms:.2f} ms, 1t p50 {latency.single_p50_ms:.2f} ms, "
            f"1t p95 {latency.single_p95_ms:.2f} ms, recall@{TOP_K} {latency.recall:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated chunk counts, multiples of 1000",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the stores here; a later run reuses them (not the index)",
    )
    parser.add_argument("--queries", type=int, default=200, help="query vectors per size")
    parser.add_argument(
        "--clusters",
        type=int,
        default=Synthetic.clusters,
        help="cluster centres the vectors are drawn around",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=Synthetic.noise,
        help="noise norm around the unit cluster centres",
    )
    parser.add_argument(
        "--milvus-max",
        type=int,
        default=100_000,
        help="largest size also measured on Milvus Lite (0: none)",
    )
    parser.add_argument(
        "--child", choices=("milvus-build", "milvus-search"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    synthetic = Synthetic(clusters=args.clusters, noise=args.noise)
    queries = query_vectors(args.queries, synthetic)
    if args.child == "milvus-build":
        milvus_build(args.work_dir)
        return
    if args.child == "milvus-search":
        milvus_search(args.work_dir, queries)
        return
    sizes = sorted(int(size) for size in args.sizes.split(","))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work_dir or Path(scratch)
        results: list[SizeResult] = []
        milvus: list[MilvusResult] = []
        truth: list[set[int]] = []
        for size in sizes:
            result, truth = measure_size(store_dir(work, size, synthetic), size, queries, synthetic)
            results.append(result)
            if size <= args.milvus_max:
                root = store_dir(work, size, synthetic).with_name(
                    store_dir(work, size, synthetic).name + "-milvus"
                )
                milvus.append(measure_milvus(root, size, synthetic, args.queries, truth))
        extra = trade_off(store_dir(work, sizes[-1], synthetic), queries, truth)
    print_results(results, extra, synthetic)
    print_milvus(milvus, results)
    note(f"scale benchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
