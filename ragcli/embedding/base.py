"""What every embedder offers: the `Embedder` Protocol, and the check of its output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ragcli.errors import ModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    spec: str
    dimension: int
    max_text_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Return how many word pieces each text takes, special tokens excluded."""
        ...

    def load(self) -> None:
        """Load the weights now instead of on first use."""
        ...

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        """Return one normalised vector per text, shape (len(texts), dimension)."""
        ...


def check_vectors(embedder: Embedder, vectors: NDArray[np.float32], count: int) -> None:
    """Refuse an embedder's output unless it is `count` finite, non-zero vectors of its size.

    A NaN or zero vector stored would score 0 (or NaN) against every question, silently.
    """
    # An ONNX copy of a model whose folder does not record its dimension knows it as 0.
    dimension = embedder.dimension or (vectors.shape[-1] if vectors.ndim == 2 else 0)
    if vectors.shape != (count, dimension):
        raise ModelError(
            f"embedder {embedder.spec} gave vectors of shape {vectors.shape} for {count} "
            f"texts, not ({count}, {dimension})"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=1)
    usable = np.isfinite(norms) & (norms > 0)
    if not usable.all():
        raise ModelError(
            f"embedder {embedder.spec} gave a vector that is not finite and non-zero "
            f"(text {int(np.argmin(usable)) + 1} of {count})",
            "check the model's files, or embed again with another model",
        )
