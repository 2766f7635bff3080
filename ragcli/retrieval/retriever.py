"""The retriever: one or several stores searched as one, hits merged by score.

Each store is searched by its own `StoreSearcher` (searcher.py), with its own embedder. The
merge is fair because every store's scores are put on one scale before they meet:

- dense: cosine similarity, the same scale in every store (each store's own embedder
  embeds the question, once per distinct embedder);
- keyword: BM25 as SQLite FTS5 gives it, each store with its own term statistics;
- hybrid: 0.7 * cosine + 0.3 * BM25 / the query's best BM25 *over all the stores*, so a
  store whose best keyword match is weak does not get full keyword credit for it. The best
  chunk of each mode over all the stores is kept in the top k, as in one store.

With one store, the merge keeps the store's own ranking as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.locations import store_labels
from ragcli.records import Hit
from ragcli.retrieval.followup import Query
from ragcli.retrieval.fusion import best_first, keep_each_best
from ragcli.retrieval.searcher import (
    Embedders,
    RetrievalSettings,
    Scores,
    StoreSearcher,
    check_mode,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from ragcli.embedding.base import Embedder

__all__ = ["RetrievalSettings", "Retriever", "check_mode"]


class Retriever:
    """One or more stores opened for searching; hits name the store they came from."""

    def __init__(
        self, store_dirs: Sequence[Path], settings: RetrievalSettings, threads: int | None
    ) -> None:
        """Open each store (one is fine); stores built with the same embedder share it."""
        check_mode(settings.mode)
        self.settings = settings
        self.labels = store_labels(store_dirs)
        self._threads = threads
        self._embedders: Embedders = {}
        self.searchers: list[StoreSearcher] = []
        try:
            for store_dir, label in zip(store_dirs, self.labels, strict=True):
                self.searchers.append(self._open(store_dir, label))
        except BaseException:
            self.close()
            raise

    def _open(self, store_dir: Path, label: str) -> StoreSearcher:
        return StoreSearcher(store_dir, label, self.settings, self._threads, self._embedders)

    def reopened(self) -> Retriever:
        """This retriever while its stores are unchanged, else one over them as they are now.

        Only the stores another process changed are opened again, keeping the embedders
        already loaded; this retriever is closed once the new one is open (if opening
        fails, this one stays as it was).
        """
        changed = [position for position, s in enumerate(self.searchers) if s.changed()]
        if not changed:
            return self
        searchers, opened = list(self.searchers), []
        try:
            for position in changed:
                stale = self.searchers[position]
                searchers[position] = self._open(stale.store_dir, stale.label)
                opened.append(searchers[position])
        except BaseException:
            _close_all(opened)
            raise
        fresh = copy.copy(self)
        fresh.searchers = searchers
        in_use = {s.embedder_key for s in searchers if s.embedder is not None}
        fresh._embedders = {key: e for key, e in self._embedders.items() if key in in_use}
        stale_ones = [self.searchers[position] for position in changed]
        self.searchers = []  # the unchanged ones are the new retriever's now
        _close_all(stale_ones)
        return fresh

    def close(self) -> None:
        """Release every store opened."""
        searchers, self.searchers = self.searchers, []
        _close_all(searchers)

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder | None:
        """The first store's embedder, loaded; None in keyword mode."""
        return self.searchers[0].embedder if self.searchers else None

    def retrieve(self, question: str | Query, k: int, mode: str | None = None) -> list[Hit]:
        """Return the k best chunks of all the stores for a question, best first.

        A follow-up `Query` (followup.py) has its carried words weighed in. `mode` overrides
        the configured one; dense and hybrid need a retriever opened in one of them
        (keyword mode opens no embedder or index).
        """
        mode = self.settings.mode if mode is None else check_mode(mode)
        scores = [s.candidates(question, v, k, mode) for s, v in self._vectors(question, mode)]
        best_keyword = max((max(s.keyword.values(), default=0.0) for s in scores), default=0.0)
        merged: dict[tuple[int, int], Hit] = {}
        for position, (searcher, found) in enumerate(zip(self.searchers, scores, strict=True)):
            for hit in searcher.rank(found, k, best_keyword, mode):
                merged[(position, _chunk_id(hit))] = hit
        ranked = best_first({key: hit.score for key, hit in merged.items()})
        if mode == "hybrid":
            modes = [_across(scores, "dense", merged), _across(scores, "keyword", merged)]
            ranked = keep_each_best(ranked, modes, k)
        return [merged[key] for key, _ in ranked[:k]]

    def _vectors(
        self, question: str | Query, mode: str
    ) -> Sequence[tuple[StoreSearcher, NDArray[np.float32] | None]]:
        """Each store with the question's vector: embedded once per distinct embedder."""
        if mode == "keyword":
            return [(searcher, None) for searcher in self.searchers]
        vectors: dict[tuple[str, int], NDArray[np.float32]] = {}
        paired = []
        for searcher in self.searchers:
            key = searcher.embedder_key
            if key not in vectors:
                vectors[key] = searcher.embed(question)
            paired.append((searcher, vectors[key]))
        return paired

    @property
    def distinct_embedders(self) -> int:
        """How many distinct embedders the stores use: each question is embedded that often."""
        if self.settings.mode == "keyword":
            return 0
        return len({searcher.embedder_key for searcher in self.searchers})


def _close_all(searchers: Sequence[StoreSearcher]) -> None:
    """Close every searcher, even when closing one of them fails."""
    try:
        if searchers:
            searchers[0].close()
    finally:
        if len(searchers) > 1:
            _close_all(searchers[1:])


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
