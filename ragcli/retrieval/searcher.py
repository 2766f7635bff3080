"""One store searched: dense (HNSW), keyword (FTS5 BM25) or both fused.

The part of `Retriever` (retriever.py) that works on one store; the retriever merges the
hits of its stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragcli.errors import EmptyStoreError, UsageError, setting
from ragcli.records import Hit, Manifest
from ragcli.retrieval.followup import Query, as_query
from ragcli.retrieval.fusion import best_first, fuse, keep_each_best
from ragcli.retrieval.keywords import fts_query, query_terms
from ragcli.retrieval.modes import RETRIEVAL_MODES
from ragcli.store import Store

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.embedding.base import Embedder
    from ragcli.embedding.server import EmbedServerOptions
    from ragcli.vectors.base import VectorIndex


# Searches a dense query may take to get past vectors of removed chunks not yet deleted.
_STALE_ROUNDS = 4


@dataclass(frozen=True)
class RetrievalSettings:
    """How chunks are found and ranked; the figures were tuned on SciFact's train split.

    Hybrid score = dense_weight * cosine + (1 - dense_weight) * BM25 / best BM25 of the
    query. On SciFact train the weight 0.7 scored best, nDCG@10 0.745 (bench/eval_bench.py
    --tune; table in docs/benchmarks.md); reciprocal-rank fusion reached 0.736 in a trial run.
    """

    mode: str  # settings.py declares the default
    # Candidates taken from each mode before fusion. `rag eval` retrieves 300 chunks a
    # query, so with 300 here every k up to that ranks exactly as eval measured it.
    candidates: int = 300
    dense_weight: float = 0.7
    # BM25 weight of a chunk's heading path (a document's title) against its text (1.0).
    heading_weight: float = 2.0
    # Where a store built on an embedding server embeds questions (--embed-url).
    embed_server: EmbedServerOptions | None = None
    # What a store's vector database asks for (Milvus); never recorded in the store.
    vectors_token: str | None = None


@dataclass(frozen=True)
class Scores:
    """One question's candidates in one store: cosine and BM25 by chunk id."""

    dense: dict[int, float]
    keyword: dict[int, float]


# The query embedders of a retriever, by (spec, dimension): stores built with the same
# embedder share one, loaded once, and keep it when they are reopened.
Embedders = dict[tuple[str, int], "Embedder"]


def check_mode(mode: str) -> str:
    """Return a valid retrieval mode or raise a usage error naming the valid ones."""
    if mode not in RETRIEVAL_MODES:
        raise UsageError(
            f"unknown retrieval mode {mode!r}", f"use one of: {', '.join(RETRIEVAL_MODES)}"
        )
    return mode


class StoreSearcher:
    """A store opened for searching, with the embedder and index when the mode needs them."""

    def __init__(
        self,
        store_dir: Path,
        label: str,
        settings: RetrievalSettings,
        threads: int | None,
        embedders: Embedders,
    ) -> None:
        """Open the store; hits name it by `label`.

        `embedders` is shared between the searchers of a retriever (one per embedder):
        an embedder already there is used, one loaded here is added.
        """
        self.store_dir, self.label = store_dir, label
        check_mode(settings.mode)
        self.settings = settings
        self._index: VectorIndex | None = None
        self.store = Store.open(store_dir, vectors_token=settings.vectors_token)
        try:
            # Taken before anything is read: a commit from now on makes this searcher stale.
            self._stamp = self.store.change_stamp()
            manifest = self.store.manifest
            if manifest is None:
                raise EmptyStoreError.at(store_dir)
            self.manifest: Manifest = manifest
            self._embedder: Embedder | None = None
            # Chunks removed since the vectors were written, filtered inside every search,
            # and the ids a search may return (the indexable chunks, sorted).
            self._tombstones: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
            self._live: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
            if settings.mode != "keyword":
                self._open_dense(threads, embedders)
        except BaseException:
            self.close()
            raise

    def _open_dense(self, threads: int | None, embedders: Embedders) -> None:
        from ragcli.embedding.factory import make_query_embedder
        from ragcli.locations import model_cache_dir

        index = self.store.open_vectors(self.manifest)
        if index is not None and index.count() == 0:
            index.close()
            index = None
        if index is None:
            raise EmptyStoreError(
                f"store {self.store_dir} has no indexed chunks",
                f"run `rag index` (or `rag ingest PATH`) first, or use {setting('mode')} keyword",
            )
        self._index = index
        index.single_query_threads()
        self._live = self.store.indexable_ids()
        if index.keeps_removed:
            # Listing a FAISS index's ids is cheap; a vector database's is not, and it
            # deletes removed chunks itself: what it still returns is dropped per search.
            self._tombstones = np.setdiff1d(index.ids(), self._live)
        embedder = embedders.get(self.embedder_key)
        if embedder is None:
            embedder = make_query_embedder(
                self.manifest.embedder,
                threads,
                model_cache_dir(),
                self.settings.embed_server,
                self.manifest.dimension,
            )
            embedder.load()
            embedders[self.embedder_key] = embedder
        self._embedder = embedder

    @property
    def embedder_key(self) -> tuple[str, int]:
        """Which embedder the store was built with: its spec and dimension."""
        return (self.manifest.embedder, self.manifest.dimension)

    def changed(self) -> bool:
        """Whether another process has changed the store since this searcher opened it."""
        return self._stamp is None or self.store.change_stamp() != self._stamp

    def close(self) -> None:
        """Release the store and its vectors."""
        try:
            if self._index is not None:
                self._index.close()
        finally:
            self.store.close()

    @property
    def embedder(self) -> Embedder | None:
        """The store's embedder, loaded; None in keyword mode."""
        return self._embedder

    def embed(self, question: str | Query) -> NDArray[np.float32]:
        """Embed a question with the store's embedder.

        A follow-up's vector leans towards its carried words: the question's vector plus
        theirs times the carried weight, normalised.
        """
        if self._embedder is None:
            raise UsageError("keyword mode has no embedder")
        from ragcli.embedding.base import check_vectors

        query = as_query(question)
        texts = [query.text, query.carried] if query.follows_up else [query.text]
        vectors = self._embedder.embed(texts)
        check_vectors(self._embedder, vectors, len(texts))
        if not query.follows_up:
            return vectors[0]
        mixed = vectors[0] + query.carried_weight * vectors[1]
        return (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)

    def dense_search(self, vector: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        """Return up to k (chunk id, cosine) pairs from the HNSW index, best first."""
        if self._index is None:
            return []
        exclude = self._tombstones
        if self._index.keeps_removed:
            # Every removed chunk's entry is among the tombstones, excluded inside the
            # search: each hit is live, with no check per hit on the hot path.
            return self._index.search(vector, k, exclude=exclude)
        for _ in range(_STALE_ROUNDS):
            found = self._index.search(vector, k, exclude=exclude)
            stale = [i for i, _ in found if not self._is_live(i)]
            if not stale:
                return found
            # Vectors of chunks removed but not yet deleted there (a run killed in between):
            # search again without them, so k live hits still come back.
            exclude = np.union1d(exclude, np.asarray(stale, dtype=np.int64))
        return [(i, score) for i, score in found if self._is_live(i)]

    def _is_live(self, chunk_id: int) -> bool:
        at = int(np.searchsorted(self._live, chunk_id))
        return at < self._live.size and int(self._live[at]) == chunk_id

    def live_index_ids(self) -> NDArray[np.int64]:
        """Return the ids a dense search can return: indexed and not removed since."""
        if self._index is None:
            return np.zeros(0, dtype=np.int64)
        if self._index.keeps_removed:
            return np.setdiff1d(self._index.ids(), self._tombstones)
        return self._live

    def keyword_search(self, question: str | Query, k: int) -> list[tuple[int, float]]:
        """Return up to k (chunk id, BM25) pairs, best first; any text is a safe query.

        A follow-up's carried words are searched too, apart, and their BM25 is added in
        times the carried weight: they help rank, below the question's own words.
        """
        query = as_query(question)
        own = query_terms(query.text)
        found = self.store.keyword_search(fts_query(own), k, self.settings.heading_weight)
        carried = [term for term in query_terms(query.carried) if term not in own]
        if not query.follows_up or not carried:
            return found
        extra = self.store.keyword_search(fts_query(carried), k, self.settings.heading_weight)
        scores = dict(found)
        scale = query.carried_weight
        for chunk_id, score in extra:
            scores[chunk_id] = scores.get(chunk_id, 0.0) + scale * score
        return best_first(scores)[:k]

    def candidates(
        self,
        question: str | Query,
        vector: NDArray[np.float32] | None,
        k: int,
        mode: str | None = None,
    ) -> Scores:
        """Score the candidates of each mode (vector: the question's; mode: the settings')."""
        mode = self.settings.mode if mode is None else mode
        depth = max(k, self.settings.candidates)
        dense = dict(self.dense_search(vector, depth)) if vector is not None else {}
        keyword = dict(self.keyword_search(question, depth)) if mode != "dense" else {}
        if vector is not None and keyword:
            # Keyword-only candidates get their cosine from the stored vectors: fusion
            # needs it, and it is the relevance signal `ask` gates on.
            missing = [i for i in keyword if i not in dense]
            for chunk_id, stored in self.store.chunk_vectors(missing, self.manifest.dimension):
                dense[chunk_id] = float(stored @ vector)
        return Scores(dense, keyword)

    def rank(
        self, scores: Scores, k: int, best_keyword: float | None = None, mode: str | None = None
    ) -> list[Hit]:
        """Return the k best of the candidates as hits, best first.

        `best_keyword` scales BM25 in hybrid mode: the query's best over every store
        searched (default: this store's best); `mode` overrides the settings'.
        """
        mode = self.settings.mode if mode is None else mode
        dense, keyword = scores.dense, scores.keyword
        if mode == "dense":
            ranked = best_first(dense)
        elif mode == "keyword":
            ranked = best_first(keyword)
        else:
            fused = fuse(dense, keyword, self.settings.dense_weight, best_keyword)
            ranked = keep_each_best(best_first(fused), [best_first(dense), best_first(keyword)], k)
        chunks = self.store.chunks_by_id([chunk_id for chunk_id, _ in ranked[:k]])
        return [
            Hit(chunks[i], score, dense.get(i), keyword.get(i), store=self.label)
            for i, score in ranked[:k]
            if i in chunks
        ]
