"""--embed-url against the real llama.cpp server with --embedding (the bundled GGUF)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragcli.embedding.server import EmbedServerOptions, ServerEmbedder
from ragcli.store import Store
from tests.conftest import Capture
from tests.conftest import run_rag as run
from tests.engines.test_server import serving_llama
from tests.unit.test_embed_server import DOCS, MODEL


@pytest.fixture(scope="module")
def llama_embeddings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Gemma 3 270M served for embeddings, mean-pooled, under a stable model name."""
    flags = ["--embedding", "true", "--kv_overrides", "gemma3.pooling_type=int:1"]
    flags += ["--model_alias", MODEL, "--n_threads", "1"]
    with serving_llama(tmp_path_factory.mktemp("llama-embed"), *flags) as url:
        yield url


@pytest.fixture(scope="module")
def server_store(llama_embeddings: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("embed-docs")
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    store = tmp_path_factory.mktemp("embed-store") / "store"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAG_EMBED_URL", llama_embeddings)
        from ragcli.cli import main

        with pytest.raises(SystemExit) as done:
            main(["ingest", str(folder), "--store", str(store), "--batch-size", "4", "-q"])
    assert done.value.code in (0, None)
    return store


@pytest.mark.e2e
def test_real_server_store_records_model_and_dimension(server_store: Path) -> None:
    with Store.open(server_store) as store:
        manifest = store.manifest
        assert manifest is not None
        assert (manifest.embedder, manifest.dimension) == (f"server:{MODEL}", 640)
        ids, vectors = store.embedded_vectors(640)
    assert len(ids) == len(DOCS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.e2e
def test_real_server_search_finds_the_obvious_chunk(
    llama_embeddings: str, server_store: Path, capsys: Capture
) -> None:
    code, out, err = run(
        capsys, "search", "Where do kittens sleep?", "--store", str(server_store),
        "--mode", "dense", "-k", "1", "--embed-url", llama_embeddings, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["path"].endswith("cats.md")


@pytest.mark.e2e
def test_real_server_ask_answers_from_the_obvious_chunk(
    llama_embeddings: str, server_store: Path, capsys: Capture
) -> None:
    code, out, err = run(
        capsys, "ask", "When is the income tax return due?", "--store", str(server_store),
        "--mode", "dense", "--model", "fake:", "--embed-url", llama_embeddings, "--json",
    )  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["sources"][0]["path"].endswith("taxes.md") and answer["answer"]


@pytest.mark.e2e
def test_real_server_vectors_match_one_by_one_embedding(llama_embeddings: str) -> None:
    embedder = ServerEmbedder(EmbedServerOptions(llama_embeddings, None), MODEL, 640)
    texts = list(DOCS.values())
    together = embedder.embed(texts, batch_size=4)
    alone = np.vstack([embedder.embed([text]) for text in texts])
    assert np.min(np.sum(together * alone, axis=1)) > 0.999
    similar = float(together[0] @ embedder.embed(["A kitten naps on the rug."])[0])
    unrelated = float(together[1] @ embedder.embed(["A kitten naps on the rug."])[0])
    assert similar > unrelated
