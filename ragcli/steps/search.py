"""`rag search`: retrieval only, dense (HNSW), keyword (FTS5 BM25) or both fused."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragcli.errors import EmptyStoreError, UsageError
from ragcli.records import Chunk, Hit, Manifest
from ragcli.settings import RETRIEVAL_MODES
from ragcli.store import Store
from ragcli.text.keywords import fts_query, query_terms

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.backends.embedders import Embedder
    from ragcli.backends.vectors import VectorIndex


@dataclass(frozen=True)
class RetrievalSettings:
    """How chunks are found and ranked; the figures were tuned on SciFact's train split.

    Hybrid score = dense_weight * cosine + (1 - dense_weight) * BM25 / best BM25 of the
    query. On SciFact train the weight 0.7 scored best, nDCG@10 0.745 (bench/eval_bench.py
    --tune; table in the README); reciprocal-rank fusion reached 0.736 in a trial run.
    """

    mode: str = "hybrid"
    # Candidates taken from each mode before fusion. `rag eval` retrieves 300 chunks a
    # query, so with 300 here every k up to that ranks exactly as eval measured it.
    candidates: int = 300
    dense_weight: float = 0.7
    # BM25 weight of a chunk's heading path (a document's title) against its text (1.0).
    heading_weight: float = 2.0


@dataclass(frozen=True)
class SearchOptions:
    """What `rag search` looks for and where."""

    store_dir: Path
    settings: RetrievalSettings
    top_k: int
    threads: int | None


def check_mode(mode: str) -> str:
    """Return a valid retrieval mode or raise a usage error naming the valid ones."""
    if mode not in RETRIEVAL_MODES:
        raise UsageError(
            f"unknown retrieval mode {mode!r}", f"use one of: {', '.join(RETRIEVAL_MODES)}"
        )
    return mode


class Retriever:
    """A store opened for searching, with the embedder and index when the mode needs them."""

    def __init__(self, store_dir: Path, settings: RetrievalSettings, threads: int | None) -> None:
        check_mode(settings.mode)
        self.settings = settings
        self.store = Store.open(store_dir)
        try:
            manifest = self.store.manifest
            if manifest is None:
                raise EmptyStoreError(f"store {store_dir} is empty", "run `rag ingest PATH` first")
            self.manifest: Manifest = manifest
            self._embedder: Embedder | None = None
            self._index: VectorIndex | None = None
            self._tombstones: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
            if settings.mode != "keyword":
                self._open_dense(store_dir, threads)
        except BaseException:
            self.store.close()
            raise

    def _open_dense(self, store_dir: Path, threads: int | None) -> None:
        from ragcli.backends.registry import make_query_embedder
        from ragcli.settings import model_cache_dir

        index = self.store.read_index(self.manifest.hnsw)
        if index is None or len(index) == 0:
            raise EmptyStoreError(
                f"store {store_dir} has no indexed chunks",
                "run `rag index` (or `rag ingest PATH`) first, or use --mode keyword",
            )
        index.single_query_threads()
        self._index = index
        # Chunks removed since the index was built: filtered inside every search.
        self._tombstones = np.setdiff1d(index.ids(), self.store.indexable_ids())
        embedder = make_query_embedder(self.manifest.embedder, threads, model_cache_dir())
        embedder.load()
        self._embedder = embedder

    def close(self) -> None:
        """Release the store."""
        self.store.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder | None:
        """The store's embedder, loaded; None in keyword mode."""
        return self._embedder

    def embed(self, question: str) -> NDArray[np.float32]:
        """Embed a question with the store's embedder."""
        if self._embedder is None:
            raise UsageError("keyword mode has no embedder")
        return self._embedder.embed([question])[0]

    def dense_search(self, vector: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """Return up to k (chunk id, cosine) pairs from the HNSW index, best first."""
        if self._index is None:
            return []
        return self._index.search(vector, k, exclude=self._tombstones)

    def live_index_ids(self) -> NDArray[np.int64]:
        """Return the ids a dense search can return: indexed and not removed since."""
        if self._index is None:
            return np.zeros(0, dtype=np.int64)
        return np.setdiff1d(self._index.ids(), self._tombstones)

    def keyword_search(self, question: str, k: int) -> list[tuple[int, float]]:
        """Return up to k (chunk id, BM25) pairs, best first; any text is a safe query."""
        match = fts_query(query_terms(question))
        return self.store.keyword_search(match, k, self.settings.heading_weight)

    def retrieve(self, question: str, k: int) -> list[Hit]:
        """Return the k best chunks for a question in the configured mode, best first."""
        mode = self.settings.mode
        depth = max(k, self.settings.candidates)
        vector = self.embed(question) if mode != "keyword" else None
        dense = dict(self.dense_search(vector, depth)) if vector is not None else {}
        keyword = dict(self.keyword_search(question, depth)) if mode != "dense" else {}
        if vector is not None and keyword:
            # Keyword-only candidates get their cosine from the stored vectors: fusion
            # needs it, and it is the relevance signal `ask` gates on.
            missing = [i for i in keyword if i not in dense]
            for chunk_id, stored in self.store.chunk_vectors(missing, self.manifest.dimension):
                dense[chunk_id] = float(stored @ vector)
        if mode == "dense":
            ranked = _best(dense)
        elif mode == "keyword":
            ranked = _best(keyword)
        else:
            fused = fuse(dense, keyword, self.settings.dense_weight)
            ranked = keep_each_best(_best(fused), [_best(dense), _best(keyword)], k)
        chunks = self.store.chunks_by_id([chunk_id for chunk_id, _ in ranked[:k]])
        return [
            Hit(chunks[i], score, dense.get(i), keyword.get(i))
            for i, score in ranked[:k]
            if i in chunks
        ]


def _best(scores: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def keep_each_best(
    ranked: list[tuple[int, float]], modes: list[list[tuple[int, float]]], k: int
) -> list[tuple[int, float]]:
    """Make sure each mode's best chunk is in the top k, taking the last places if need be.

    An exact identifier that only BM25 finds (or a paraphrase only the embedding finds)
    can score low in the fused sum; its mode's first place still makes the cut.
    """
    top = ranked[:k]
    scores = dict(ranked)
    missing = [m[0][0] for m in modes if m and m[0][0] not in {i for i, _ in top}]
    for slot, chunk_id in enumerate(dict.fromkeys(missing), start=1):
        if slot > len(top) - 1:  # never push out the fused first place
            break
        top[-slot] = (chunk_id, scores[chunk_id])
    top.sort(key=lambda item: (-item[1], item[0]))
    kept = {chunk_id for chunk_id, _ in top}
    return top + [item for item in ranked if item[0] not in kept]


def fuse(
    dense: dict[int, float], keyword: dict[int, float], dense_weight: float
) -> dict[int, float]:
    """Combine cosine and BM25 scores: a convex sum, BM25 scaled by the query's best.

    A candidate one mode did not score counts 0 there (a chunk never embedded has no
    cosine; a chunk without the query's words has no BM25).
    """
    best = max(keyword.values(), default=0.0)
    scale = 1.0 / best if best > 0 else 0.0
    return {
        chunk_id: dense_weight * dense.get(chunk_id, 0.0)
        + (1.0 - dense_weight) * keyword.get(chunk_id, 0.0) * scale
        for chunk_id in dense.keys() | keyword.keys()
    }


_DISTINCTIVE = re.compile(r"\w*\d\w*|\w+(?:[-_.:/]\w+)+|[A-Z]{2,}\w*|\w+[a-z][A-Z]\w*")


# Longer runs of word characters name nothing a chunk could match, and _DISTINCTIVE's
# backtracking over one costs time quadratic in its length.
_OVERLONG_WORD = re.compile(r"\w{65,}")


def distinctive_terms(question: str) -> list[str]:
    """Return the question's exact-match terms: identifiers, numbers, acronyms, CamelCase."""
    bounded = _OVERLONG_WORD.sub(" ", question)
    return [m.group().lower() for m in _DISTINCTIVE.finditer(bounded)]


def names_term(chunk: Chunk, terms: list[str]) -> bool:
    """Whether a chunk's text or heading contains any of the given exact terms."""
    haystack = f"{chunk.heading}\n{chunk.text}".lower()
    return any(term in haystack for term in terms)


def search(options: SearchOptions, queries: Iterable[str]) -> Iterator[tuple[str, list[Hit]]]:
    """Retrieve the hits of each query in turn, loading the store and models once."""
    with Retriever(options.store_dir, options.settings, options.threads) as retriever:
        for query in queries:
            yield query, retriever.retrieve(query, options.top_k)
