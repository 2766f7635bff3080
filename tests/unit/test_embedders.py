"""The check every embedder's output passes before it is stored or searched with."""

from __future__ import annotations

import numpy as np
import pytest

from ragcli.embedding.base import check_vectors
from ragcli.embedding.factory import make_embedder
from ragcli.errors import ExitCode, ModelError

TEXTS = ["kittens sleep", "lava flows", "bread rises"]


def test_an_embedders_own_vectors_pass() -> None:
    embedder = make_embedder("fake:16")
    check_vectors(embedder, embedder.embed(TEXTS), len(TEXTS))


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0])
def test_a_vector_that_is_not_finite_or_is_zero_is_refused(bad: float) -> None:
    embedder = make_embedder("fake:16")
    vectors = embedder.embed(TEXTS)
    vectors[1] = bad
    with pytest.raises(ModelError) as raised:
        check_vectors(embedder, vectors, len(TEXTS))
    assert raised.value.exit_code == ExitCode.MODEL
    assert "embedder fake:16 gave a vector that is not finite and non-zero (text 2 of 3)" in str(
        raised.value
    )


@pytest.mark.parametrize("shape", [(2, 16), (3, 8)])
def test_vectors_of_another_shape_are_refused(shape: tuple[int, int]) -> None:
    embedder = make_embedder("fake:16")
    with pytest.raises(ModelError, match=r"not \(3, 16\)"):
        check_vectors(embedder, np.ones(shape, dtype=np.float32), len(TEXTS))


def test_an_embedder_that_does_not_know_its_dimension_is_held_to_its_vectors() -> None:
    embedder = make_embedder("fake:16")
    vectors = embedder.embed(TEXTS)
    embedder.dimension = 0  # an ONNX copy of a folder that does not record it
    check_vectors(embedder, vectors, len(TEXTS))
    with pytest.raises(ModelError, match=r"not \(3, 16\)"):
        check_vectors(embedder, vectors[:2], len(TEXTS))
