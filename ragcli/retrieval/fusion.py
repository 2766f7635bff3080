"""Hybrid ranking: cosine and BM25 scores combined into one order."""

from __future__ import annotations

from typing import TypeVar

# A chunk's key: its id in one store, or (store's position, id) across several.
Key = TypeVar("Key", int, tuple[int, int])


def best_first(scores: dict[Key, float]) -> list[tuple[Key, float]]:
    """Return (chunk id, score) pairs, highest score first, ties by chunk id."""
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def keep_each_best(
    ranked: list[tuple[Key, float]], modes: list[list[tuple[Key, float]]], k: int
) -> list[tuple[Key, float]]:
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
    dense: dict[int, float],
    keyword: dict[int, float],
    dense_weight: float,
    best_keyword: float | None = None,
) -> dict[int, float]:
    """Combine cosine and BM25 scores: a convex sum, BM25 scaled by the query's best.

    A candidate one mode did not score counts 0 there (a chunk never embedded has no
    cosine; a chunk without the query's words has no BM25). `best_keyword` is the best
    BM25 of the query over every store searched (default: over these candidates).
    """
    best = max(keyword.values(), default=0.0) if best_keyword is None else best_keyword
    scale = 1.0 / best if best > 0 else 0.0
    return {
        chunk_id: dense_weight * dense.get(chunk_id, 0.0)
        + (1.0 - dense_weight) * keyword.get(chunk_id, 0.0) * scale
        for chunk_id in dense.keys() | keyword.keys()
    }
