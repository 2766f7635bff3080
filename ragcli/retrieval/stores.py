"""Several stores searched as one: each with its own embedder, hits merged by score.

The merge is fair because every store's scores are put on one scale before they meet:

- dense: cosine similarity, the same scale in every store (each store's own embedder
  embeds the question, once per distinct embedder);
- keyword: BM25 as SQLite FTS5 gives it, each store with its own term statistics;
- hybrid: 0.7 * cosine + 0.3 * BM25 / the query's best BM25 *over all the stores*, so a
  store whose best keyword match is weak does not get full keyword credit for it. The best
  chunk of each mode over all the stores is kept in the top k, as in one store.

With one store this is exactly `Retriever.retrieve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.locations import store_labels
from ragcli.records import Hit
from ragcli.retrieval.fusion import best_first, keep_each_best
from ragcli.retrieval.retriever import (
    Embedders,
    RetrievalSettings,
    Retriever,
    Scores,
    check_mode,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class StoresRetriever:
    """One or more stores opened for searching; hits name the store they came from."""

    def __init__(
        self, store_dirs: Sequence[Path], settings: RetrievalSettings, threads: int | None
    ) -> None:
        self.settings = settings
        self.labels = store_labels(store_dirs)
        self.retrievers: list[Retriever] = []
        embedders: Embedders = {}
        try:
            for store_dir, label in zip(store_dirs, self.labels, strict=True):
                retriever = Retriever(store_dir, settings, threads, embedders)
                retriever.label = label  # told apart from the others: hits name it so
                self.retrievers.append(retriever)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release every store opened."""
        retrievers, self.retrievers = self.retrievers, []
        try:
            if retrievers:
                retrievers[0].close()
        finally:
            for retriever in retrievers[1:]:
                retriever.close()

    def __enter__(self) -> StoresRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retrieve(self, question: str, k: int, mode: str | None = None) -> list[Hit]:
        """Return the k best chunks of all the stores for a question, best first.

        `mode` overrides the configured one, as in `Retriever.retrieve`.
        """
        mode = self.settings.mode if mode is None else check_mode(mode)
        scores = [r.candidates(question, v, k, mode) for r, v in self._vectors(question, mode)]
        best_keyword = max((max(s.keyword.values(), default=0.0) for s in scores), default=0.0)
        merged: dict[tuple[int, int], Hit] = {}
        for position, (retriever, found) in enumerate(zip(self.retrievers, scores, strict=True)):
            for hit in retriever.rank(found, k, best_keyword, mode):
                merged[(position, _chunk_id(hit))] = hit
        ranked = best_first({key: hit.score for key, hit in merged.items()})
        if mode == "hybrid":
            modes = [_across(scores, "dense", merged), _across(scores, "keyword", merged)]
            ranked = keep_each_best(ranked, modes, k)
        return [merged[key] for key, _ in ranked[:k]]

    def _vectors(
        self, question: str, mode: str
    ) -> Sequence[tuple[Retriever, NDArray[np.float32] | None]]:
        """Each store with the question's vector: embedded once per distinct embedder."""
        if mode == "keyword":
            return [(retriever, None) for retriever in self.retrievers]
        vectors: dict[tuple[str, int], NDArray[np.float32]] = {}
        paired = []
        for retriever in self.retrievers:
            key = (retriever.manifest.embedder, retriever.manifest.dimension)
            if key not in vectors:
                vectors[key] = retriever.embed(question)
            paired.append((retriever, vectors[key]))
        return paired

    @property
    def distinct_embedders(self) -> int:
        """How many distinct embedders the stores use: each question is embedded that often."""
        if self.settings.mode == "keyword":
            return 0
        return len({(r.manifest.embedder, r.manifest.dimension) for r in self.retrievers})


def _chunk_id(hit: Hit) -> int:
    assert hit.chunk.id is not None  # hits come from the store, with their ids
    return hit.chunk.id


def _across(
    scores: list[Scores], mode: str, merged: dict[tuple[int, int], Hit]
) -> list[tuple[tuple[int, int], float]]:
    """One mode's ranking over every store, of the chunks among the merged hits."""
    return best_first(
        {
            (position, chunk_id): score
            for position, found in enumerate(scores)
            for chunk_id, score in getattr(found, mode).items()
            if (position, chunk_id) in merged
        }
    )
