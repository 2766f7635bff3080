"""`rag search`: retrieval only, dense (HNSW), keyword (FTS5 BM25) or both fused."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ragcli.records import SearchResult
from ragcli.retrieval.retriever import RetrievalSettings
from ragcli.retrieval.stores import StoresRetriever


@dataclass(frozen=True)
class SearchOptions:
    """What `rag search` looks for and where: one store or several, merged by score."""

    stores: tuple[Path, ...]
    settings: RetrievalSettings
    top_k: int
    threads: int | None


def search(options: SearchOptions, queries: Iterable[str]) -> Iterator[SearchResult]:
    """Retrieve the hits of each query in turn, loading the stores and models once."""
    started = time.perf_counter()
    with StoresRetriever(options.stores, options.settings, options.threads) as retriever:
        for query in queries:
            hits = retriever.retrieve(query, options.top_k)
            yield SearchResult(query, hits, time.perf_counter() - started)
