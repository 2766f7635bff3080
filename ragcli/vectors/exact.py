"""Brute-force search: the reference an approximate index's recall is measured against."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray


def exact_search(
    vectors: NDArray[np.float32], ids: NDArray[np.int64], query: NDArray[np.float32], k: int
) -> list[tuple[int, float]]:
    """Brute-force inner-product search: the reference HNSW recall is measured against."""
    scores = vectors @ query.reshape(-1)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]
