"""ragcli.embedding.factory: choosing embedders and LLMs from spec strings."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ragcli.bundled import BUNDLED_EMBEDDER
from ragcli.embedding.factory import canonical_embedder_spec, make_embedder
from ragcli.errors import ModelError, UsageError
from ragcli.llm.factory import make_llm
from ragcli.options import llm_options
from ragcli.settings import defaults
from tests.fakes import ExtractiveLLM, HashingEmbedder

TEXTS = ["Vector search finds neighbours.", "HNSW is a graph.", "", "naïve café ünïcode"]


def test_fake_embedder_has_the_requested_dimension() -> None:
    embedder = make_embedder("fake:32")

    assert isinstance(embedder, HashingEmbedder)
    assert embedder.dimension == 32
    assert embedder.spec == "fake:32"
    assert embedder.embed(TEXTS).shape == (len(TEXTS), 32)


def test_fake_spec_can_set_max_text_tokens() -> None:
    embedder = make_embedder("fake:16:40")
    assert (embedder.dimension, embedder.max_text_tokens) == (16, 40)


def test_fake_vectors_are_unit_norm_float32_and_deterministic() -> None:
    first = make_embedder("fake:32").embed(TEXTS)
    second = make_embedder("fake:32").embed(list(reversed(TEXTS)))[::-1]

    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(first, second)


def test_fake_vectors_reflect_wording() -> None:
    embedder = make_embedder("fake:64")
    close, near, far = embedder.embed(
        ["the vector index search", "search the vector index quickly", "bananas are yellow"]
    )
    assert float(close @ near) > float(close @ far)


def test_fake_count_tokens_counts_words_and_punctuation() -> None:
    embedder = make_embedder("fake:64")
    assert embedder.count_tokens(["Hello, world!", "", "a b c"]) == [4, 0, 3]


def test_bundled_embedder_is_minilm_with_its_real_tokenizer() -> None:
    embedder = make_embedder(BUNDLED_EMBEDDER)

    assert embedder.spec == BUNDLED_EMBEDDER
    assert embedder.dimension == 384
    assert embedder.max_text_tokens == 254
    words, pieces = embedder.count_tokens(["hello world", "unbelievably"])
    assert words == 2  # special tokens ([CLS], [SEP]) are not counted
    assert pieces > 1  # word pieces, not words


@pytest.mark.parametrize("spec", [BUNDLED_EMBEDDER, f"st:{BUNDLED_EMBEDDER}"])
def test_canonical_spec_of_bundled_name(spec: str) -> None:
    assert canonical_embedder_spec(spec) == BUNDLED_EMBEDDER


@pytest.mark.parametrize("spec", ["fake:64", "fake:", "fake:16:40"])
def test_canonical_spec_of_fake_is_unchanged(spec: str) -> None:
    assert canonical_embedder_spec(spec) == spec


def test_canonical_spec_of_a_path_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models" / "mini").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    expected = f"st:{(tmp_path / 'models' / 'mini').resolve()}"

    assert canonical_embedder_spec("models/mini") == expected
    assert canonical_embedder_spec("st:models/mini") == expected
    assert canonical_embedder_spec("./models/../models/mini/") == expected


def test_make_embedder_on_a_missing_folder_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        make_embedder(str(tmp_path / "no-such-model"))


def test_make_embedder_on_a_folder_that_is_not_a_model_raises_model_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError):
        make_embedder(f"st:{tmp_path}")


def test_fake_llm_spec_gives_the_extractive_fake(tmp_path: Path) -> None:
    llm = make_llm("fake:", llm_options(defaults()), tmp_path / "cache")
    assert isinstance(llm, ExtractiveLLM)


@pytest.mark.parametrize("name", ["model.bin", "model.txt", "model", "gguf"])
def test_make_llm_refuses_a_path_that_is_not_gguf(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"whatever")
    with pytest.raises(UsageError):
        make_llm(str(path), llm_options(defaults()), tmp_path / "cache")


@pytest.mark.parametrize("name", ["missing.gguf", "MISSING.GGUF"])
def test_make_llm_on_a_missing_gguf_raises_model_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        make_llm(str(tmp_path / name), llm_options(defaults()), tmp_path / "cache")


@pytest.mark.parametrize(
    "content",
    [random.Random(0).randbytes(4096), b"GGUF" + random.Random(1).randbytes(4096), b""],
    ids=["random-bytes", "magic-then-garbage", "empty"],
)
def test_make_llm_on_a_corrupt_gguf_raises_model_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(content)

    with pytest.raises(ModelError):
        make_llm(
            str(path),
            replace(llm_options(defaults()), context_tokens=512),
            tmp_path / "cache",
        )
    with pytest.raises(ModelError):
        make_llm(
            f"gguf:{path}",
            replace(llm_options(defaults()), context_tokens=512),
            tmp_path / "cache",
        )


def test_the_fakes_come_only_from_the_tests_registration(tmp_path: Path) -> None:
    """Without RAGCLI_TEST_PLUGINS a process has no `fake:` specs: they are not shipped."""
    from ragcli.plugins import PLUGINS_VARIABLE

    env = {name: value for name, value in os.environ.items() if name != PLUGINS_VARIABLE}
    probe = "from ragcli.embedding.factory import make_embedder; make_embedder('fake:64')"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "is not a local sentence-transformers folder" in done.stderr
