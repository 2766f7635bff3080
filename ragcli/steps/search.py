"""`rag search`: retrieval only, dense (HNSW), keyword (FTS5 BM25) or both fused."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ragcli.records import SearchResult
from ragcli.retrieval.retriever import RetrievalSettings, Retriever


@dataclass(frozen=True)
class SearchOptions:
    """What `rag search` looks for and where."""

    store_dir: Path
    settings: RetrievalSettings
    top_k: int
    threads: int | None


def search(options: SearchOptions, queries: Iterable[str]) -> Iterator[SearchResult]:
    """Retrieve the hits of each query in turn, loading the store and models once."""
    started = time.perf_counter()
    with Retriever(options.store_dir, options.settings, options.threads) as retriever:
        for query in queries:
            hits = retriever.retrieve(query, options.top_k)
            yield SearchResult(query, hits, time.perf_counter() - started)
