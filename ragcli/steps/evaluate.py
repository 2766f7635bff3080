"""`rag eval`: measure retrieval on a BEIR-format data set through the real pipeline.

The corpus is written out as one Markdown file per document (title as heading), ingested
and indexed like any folder, and every query of the split is run through the retriever in
each mode. Documents are ranked by their best chunk.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

from ragcli.build import BuildSettings, settle_build
from ragcli.discovery import DiscoveryOptions
from ragcli.errors import RagError
from ragcli.evaluation.beir import BeirDataset, iter_corpus, read_dataset, write_corpus
from ragcli.evaluation.metrics import overlap_at_k, percentile, score_run
from ragcli.indexing import index_chunks
from ragcli.progress import Progress
from ragcli.records import EvalReport, Hit, ModeReport
from ragcli.retrieval.retriever import RetrievalSettings, Retriever, check_mode
from ragcli.retrieval.searcher import StoreSearcher
from ragcli.store import DATABASE_NAME, Store
from ragcli.syncing import check_paths, sync_documents
from ragcli.vectors.exact import exact_search

# Chunks retrieved per query: deep enough that the documents' recall@100 is measured.
EVAL_DEPTH_CHUNKS = 300
HNSW_RECALL_K = 10


@dataclass(frozen=True)
class EvalOptions:
    """Which data set, which modes, where to build the store."""

    dataset: Path
    modes: tuple[str, ...]
    build: BuildSettings
    settings: RetrievalSettings
    split: str
    max_queries: int | None
    max_documents: int | None
    work_dir: Path | None  # kept between runs (re-runs skip embedding); else temporary
    batch_size: int


def evaluate(options: EvalOptions, progress: Progress) -> EvalReport:
    """Build a store from the data set's corpus and score every mode on its queries."""
    for mode in options.modes:
        check_mode(mode)
    dataset = read_dataset(options.dataset, options.split, options.max_queries)
    with (
        _work_dir(options.work_dir) as work,
        _vectors_dropped(work / "store", options.work_dir is None, options.build, progress),
    ):
        corpus, store_dir = work / "corpus", work / "store"
        names = _write_corpus(options, dataset, corpus)
        started = time.perf_counter()
        _build_store(options, corpus, store_dir, progress)
        ingest_s = time.perf_counter() - started
        reports = []
        recall = None
        for mode in options.modes:
            settings = replace(
                options.settings,
                mode=mode,
                candidates=max(options.settings.candidates, EVAL_DEPTH_CHUNKS),
            )
            with Retriever((store_dir,), settings, options.build.threads) as retriever:
                reports.append(_run_mode(retriever, dataset, names, progress))
                searcher = retriever.searchers[0]
                if recall is None and mode != "keyword":
                    recall = _hnsw_recall(searcher, dataset, progress)
                chunks = len(searcher.store.chunk_ids())
    return EvalReport(
        str(options.dataset),
        options.split,
        len(names),
        chunks,
        len(dataset.queries),
        tuple(reports),
        recall,
        ingest_s,
    )


def _build_store(options: EvalOptions, corpus: Path, store_dir: Path, progress: Progress) -> None:
    """Ingest and index the corpus folder as `rag ingest` would."""
    check_paths((corpus,))
    with Store.open(
        store_dir,
        create=True,
        write=True,
        on_wait=progress.note,
        vectors_token=options.build.vectors_token,
    ) as store:
        manifest, embedder = settle_build(store, options.build)
        sync_documents(store, manifest, embedder, (corpus,), DiscoveryOptions(), progress)
        index_chunks(
            store, manifest, embedder, progress, options.batch_size, int8=options.build.int8
        )


@contextmanager
def _work_dir(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as temporary:
        yield Path(temporary)


@contextmanager
def _vectors_dropped(
    store_dir: Path, temporary: bool, build: BuildSettings, progress: Progress
) -> Iterator[None]:
    """Drop a temporary store's vectors kept in a database (its Milvus collection) at the end.

    The store's directory goes with the work directory; a collection would stay behind.
    """
    try:
        yield
    except BaseException:
        if temporary:
            with suppress(RagError):  # the error under way is the one to report
                _drop_vectors(store_dir, build.vectors_token)
        raise
    if temporary:
        try:
            _drop_vectors(store_dir, build.vectors_token)
        except RagError as exc:
            progress.note(f"the temporary store's vectors were not deleted: {exc.message}")


def _drop_vectors(store_dir: Path, vectors_token: str | None) -> None:
    if not (store_dir / DATABASE_NAME).is_file():
        return
    with Store.open(store_dir, write=True, vectors_token=vectors_token) as store:
        manifest = store.manifest
        if manifest is not None:
            store.drop_vectors(manifest)


def select_documents(dataset: BeirDataset, max_documents: int) -> set[str]:
    """Pick a reduced corpus: every judged document, then the first others as distractors."""
    judged = {doc for relevant in dataset.qrels.values() for doc in relevant}
    room = max(0, max_documents - len(judged))
    others = [d.id for d in iter_corpus(dataset.root) if d.id not in judged][:room]
    return judged | set(others)


def _write_corpus(options: EvalOptions, dataset: BeirDataset, folder: Path) -> dict[str, str]:
    """Write the corpus (or a reduced one) as files; return file name -> document id."""
    keep = None
    if options.max_documents is not None:
        keep = select_documents(dataset, options.max_documents).__contains__
    names = write_corpus(iter_corpus(options.dataset), folder, keep)
    for stale in folder.glob("*.md"):  # left by an earlier, larger run in a kept work dir
        if stale.name not in names:
            stale.unlink()
    return names


def _run_mode(
    retriever: Retriever, dataset: BeirDataset, names: dict[str, str], progress: Progress
) -> ModeReport:
    run: dict[str, list[str]] = {}
    latencies: list[float] = []
    progress.start(f"Queries ({retriever.settings.mode})", len(dataset.queries))
    for text in list(dataset.queries.values())[:1]:
        retriever.retrieve(text, EVAL_DEPTH_CHUNKS)  # warm-up: first calls pay one-off costs
    for query_id, text in dataset.queries.items():
        started = time.perf_counter()
        hits = retriever.retrieve(text, EVAL_DEPTH_CHUNKS)
        latencies.append((time.perf_counter() - started) * 1000)
        run[query_id] = rank_documents(hits, names)
        progress.advance(1)
    return ModeReport(
        retriever.settings.mode,
        score_run(run, dataset.qrels),
        percentile(latencies, 50),
        percentile(latencies, 95),
    )


def rank_documents(hits: Sequence[Hit], names: dict[str, str]) -> list[str]:
    """Rank documents by their best chunk: the first time each appears in the hits."""
    ranked: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        document = names.get(Path(hit.chunk.path).name)
        if document is not None and document not in seen:
            seen.add(document)
            ranked.append(document)
    return ranked


def _hnsw_recall(searcher: StoreSearcher, dataset: BeirDataset, progress: Progress) -> float:
    """Mean overlap of HNSW's top 10 with exact search's, on the same query vectors."""
    manifest = searcher.manifest
    ids, vectors = searcher.store.embedded_vectors(manifest.dimension, searcher.live_index_ids())
    overlaps = []
    progress.start("HNSW recall", len(dataset.queries))
    for text in dataset.queries.values():
        vector = searcher.embed(text)
        found = [i for i, _ in searcher.dense_search(vector, HNSW_RECALL_K)]
        exact = [i for i, _ in exact_search(vectors, ids, vector, HNSW_RECALL_K)]
        overlaps.append(overlap_at_k(found, exact, HNSW_RECALL_K))
        progress.advance(1)
    return sum(overlaps) / len(overlaps) if overlaps else 1.0
