"""--embed-url: embeddings from an OpenAI-compatible server (a stub; llama.cpp's: engines/)."""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragcli.embedding.factory import make_document_embedder, make_query_embedder
from ragcli.embedding.server import (
    TEXTS_PER_REQUEST,
    EmbedServerOptions,
    ServerEmbedder,
)
from ragcli.errors import ConfigMismatchError, ExitCode, ModelError
from ragcli.settings import as_flag
from ragcli.store import Store
from tests.conftest import Capture
from tests.conftest import run_rag as run
from tests.unit.test_server import (
    HUGE_LISTING,
    KEY,
    FakeServer,
    Reply,
    fake,
    free_port,
    rag,
)

__all__ = ["fake"]  # the stub server fixture, shared with test_server.py

MODEL = "gemma-3-270m"
DOCS = {
    "cats.md": "# Cats\n\nKittens like to sleep curled up on a warm rug by the fire.",
    "taxes.md": "# Taxes\n\nThe income tax return is due in April; late filing costs a fee.",
    "volcano.md": "# Volcanoes\n\nLava flows from the crater when the volcano erupts.",
    "bread.md": "# Bread\n\nKnead the dough, let it rise for an hour, then bake it.",
}


def stub_vector(text: str, dimension: int = 8) -> list[float]:
    """A deterministic, unnormalised vector for a text."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) - 100.0 for b in digest[:dimension]]


def embeddings_reply(fake: FakeServer, dimension: int = 8, reverse: bool = False) -> Reply:
    """A reply that embeds each input of the last POST; `reverse` sends them backwards."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        texts = fake.posts[-1].body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": stub_vector(t, dimension)}
            for i, t in enumerate(texts)
        ]
        body = {"object": "list", "model": MODEL, "data": data[::-1] if reverse else data}
        send(handler, 200, json.dumps(body).encode())

    return Reply(write=write)


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    handler.wfile.write(body)


def connect(fake: FakeServer, model: str = "", dimension: int | None = None) -> ServerEmbedder:
    return ServerEmbedder(EmbedServerOptions(fake.url, None), model, dimension)


def failure(fake: FakeServer, body: Any, model: str = "") -> ModelError:
    """The ModelError connecting raises when the probe gets `body`."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    fake.reply = Reply(write=lambda handler: send(handler, 200, raw))
    with pytest.raises(ModelError) as raised:
        connect(fake, model)
    return raised.value


@pytest.fixture
def stub(fake: FakeServer) -> FakeServer:
    """The stub serving MODEL with 8-dimensional vectors."""
    fake.models = [MODEL]
    fake.reply = embeddings_reply(fake)
    return fake


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    return folder


# --- the embedder against a stub ----------------------------------------------------------


def test_vectors_come_back_normalised_in_input_order(stub: FakeServer) -> None:
    embedder = connect(stub)
    assert (embedder.spec, embedder.dimension, embedder.model) == (f"server:{MODEL}", 8, MODEL)
    stub.reply = embeddings_reply(stub, reverse=True)
    texts = ["alpha", "beta", "gamma"]
    vectors = embedder.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    for text, vector in zip(texts, vectors, strict=True):
        expected = np.array(stub_vector(text))
        assert np.allclose(vector, expected / np.linalg.norm(expected), atol=1e-6)
    assert stub.posts[-1].body == {"model": MODEL, "input": texts}


@pytest.mark.parametrize(("batch_size", "requests"), [(64, 3), (8, 5)])
def test_requests_carry_at_most_16_texts_or_the_batch_size(
    stub: FakeServer, batch_size: int, requests: int
) -> None:
    embedder = connect(stub)
    before = len(stub.posts)
    embedder.embed([f"text {i}" for i in range(40)], batch_size)
    sizes = [len(post.body["input"]) for post in stub.posts[before:]]
    assert len(sizes) == requests and sum(sizes) == 40
    assert max(sizes) == min(batch_size, TEXTS_PER_REQUEST)


def test_a_server_embedder_gets_no_onnx_copy(stub: FakeServer, tmp_path: Path) -> None:
    embedder = connect(stub)
    assert make_document_embedder(embedder, tmp_path) is embedder
    options = EmbedServerOptions(stub.url, None)
    assert isinstance(
        make_query_embedder(f"server:{MODEL}", None, tmp_path, options), ServerEmbedder
    )
    assert not any(tmp_path.iterdir())


def test_tokens_are_counted_locally(stub: FakeServer) -> None:
    embedder = connect(stub)
    posts = len(stub.posts)
    assert embedder.count_tokens(["kittens sleep", ""]) == [3, 0]
    assert len(stub.posts) == posts and embedder.max_text_tokens == 256


def test_per_token_vectors_are_refused_with_the_pooling_hint(stub: FakeServer) -> None:
    per_token = {"data": [{"index": 0, "embedding": [[0.1, 0.2], [0.3, 0.4]]}]}
    error = failure(stub, per_token)
    assert "one vector per token" in error.message
    assert "pooling_type=int:1" in error.hint and "--pooling mean" in error.hint


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>busy</html>", "not JSON"),
        ({"object": "list"}, "no 'data' list"),
        ({"data": []}, "0 embeddings for 1 texts"),
        ({"data": [{"index": 3, "embedding": [1.0]}]}, "no usable index"),
        ({"data": [{"index": 0, "embedding": "AAAA"}]}, "not a list of numbers"),
        ({"data": [{"index": 0, "embedding": [1.0, "x"]}]}, "other than numbers"),
        ({"data": [{"index": 0, "embedding": [0.0, 0.0]}]}, "finite, non-zero"),
    ],
)
def test_malformed_replies_are_one_line_model_errors(
    stub: FakeServer, body: Any, detail: str
) -> None:
    error = failure(stub, body)
    assert detail in error.message and "\n" not in str(error)
    assert "not OpenAI-compatible" in error.message and "--embed-url" in error.spelled(as_flag)


def test_an_error_reply_is_reported(stub: FakeServer) -> None:
    error = failure(stub, {"error": {"message": "model is loading"}})
    assert "reported an error: model is loading" in error.message


def test_a_dimension_that_changes_mid_run_is_an_error(stub: FakeServer) -> None:
    embedder = connect(stub)
    stub.reply = embeddings_reply(stub, dimension=4)
    with pytest.raises(ModelError, match="4-dimensional vector after 8-dimensional"):
        embedder.embed(["text"])


def test_a_store_dimension_the_server_does_not_give_is_a_mismatch(stub: FakeServer) -> None:
    with pytest.raises(
        ConfigMismatchError, match="gives 8-dimensional vectors, the store holds 640"
    ):
        connect(stub, MODEL, dimension=640)


def test_a_model_the_server_does_not_list_is_a_mismatch(stub: FakeServer) -> None:
    with pytest.raises(ConfigMismatchError, match=f"serves '{MODEL}', not 'other'"):
        connect(stub, "other")


def test_the_api_key_comes_from_its_own_variable(
    stub: FakeServer, docs: Path, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_EMBED_API_KEY", "sk-embed")
    monkeypatch.setenv("RAG_LLM_API_KEY", "sk-llm")
    code, _, err = run(
        capsys, "ingest", str(docs), "--store", str(tmp_path / "s"), "--embed-url", stub.url, "-q"
    )
    assert code == 0, err
    assert {post.headers["authorization"] for post in stub.posts} == {"Bearer sk-embed"}


def test_a_401_hints_at_the_embedding_key(stub: FakeServer) -> None:
    stub.reply = Reply(401, "application/json", b'{"error": "bad key"}')
    with pytest.raises(ModelError) as raised:
        connect(stub)
    assert "HTTP 401: bad key" in raised.value.message
    assert "RAG_EMBED_API_KEY" in raised.value.spelled(as_flag)


# --- the CLI against a stub ---------------------------------------------------------------


def test_a_server_store_needs_the_url_again(
    stub: FakeServer, docs: Path, tmp_path: Path, capsys: Capture
) -> None:
    store = str(tmp_path / "store")
    assert run(capsys, "ingest", str(docs), "--store", store, "--embed-url", stub.url, "-q")[0] == 0
    code, out, err = run(capsys, "search", "kittens", "--store", store, "--mode", "dense")
    assert code == ExitCode.USAGE and out == "" and err.count("\n") == 1
    assert "'server:gemma-3-270m' runs on an embedding server" in err and "--embed-url" in err
    # Keyword search and compact need no embedder, hence no server.
    assert run(capsys, "search", "kittens", "--store", store, "--mode", "keyword")[0] == 0
    assert run(capsys, "compact", "--store", store, "-q")[0] == 0


def test_a_server_listing_another_model_is_a_config_mismatch(
    stub: FakeServer, docs: Path, tmp_path: Path, capsys: Capture
) -> None:
    store = str(tmp_path / "store")
    assert run(capsys, "ingest", str(docs), "--store", store, "--embed-url", stub.url, "-q")[0] == 0
    stub.models = ["nomic-embed-text"]
    code, _, err = run(capsys, "search", "kittens", "--store", store, "--embed-url", stub.url)
    assert code == ConfigMismatchError.exit_code == ExitCode.USAGE
    assert f"serves 'nomic-embed-text', not '{MODEL}'" in err and err.count("\n") == 1


def test_another_embed_model_for_a_server_store_is_a_config_mismatch(
    stub: FakeServer, docs: Path, tmp_path: Path, capsys: Capture
) -> None:
    store = str(tmp_path / "store")
    assert run(capsys, "ingest", str(docs), "--store", store, "--embed-url", stub.url, "-q")[0] == 0
    code, _, err = run(
        capsys, "index", "--store", store, "--embed-url", stub.url, "--embed-model", "other"
    )
    assert code == ExitCode.USAGE
    assert "built with embedder 'server:gemma-3-270m', not 'server:other'" in err


def test_embed_url_on_a_local_store_is_a_config_mismatch(
    stub: FakeServer, docs: Path, tmp_path: Path, capsys: Capture
) -> None:
    store = str(tmp_path / "store")
    assert (
        run(capsys, "ingest", str(docs), "--store", store, "--embed-model", "fake:16", "-q")[0] == 0
    )
    code, _, err = run(capsys, "ingest", str(docs), "--store", store, "--embed-url", stub.url)
    assert code == ExitCode.USAGE
    assert "built with embedder 'fake:16', not one on an embedding server" in err
    assert stub.seen == []


def test_an_unreachable_server_is_exit_5_in_one_line(
    docs: Path, tmp_path: Path, capsys: Capture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, out, err = run(
        capsys, "ingest", str(docs), "--store", str(tmp_path / "s"), "--embed-url", url
    )
    assert code == ExitCode.MODEL == 5
    assert out == "" and err.count("\n") == 1
    assert f"cannot reach the embedding server at {url}" in err and "--embed-url" in err


def test_a_malformed_url_is_a_usage_error(docs: Path, tmp_path: Path, capsys: Capture) -> None:
    code, _, err = run(
        capsys, "ingest", str(docs), "--store", str(tmp_path / "s"), "--embed-url", "localhost:8080"
    )
    assert code == ExitCode.USAGE and "http://" in err


# --- vectors beyond float32, replies over the cap, keys echoed ---------------------------


@pytest.mark.parametrize(
    ("vector", "detail"),
    [
        ([1e300] * 8, "not a finite, non-zero vector (it holds 1e+300)"),
        ([-1e39, 0.5] * 4, "not a finite, non-zero vector (it holds -1e+39)"),
        ([1e-300] * 8, "not a finite, non-zero vector (it is all zeros in float32)"),
        ([float("inf")] * 8, "not a finite, non-zero vector (it holds inf)"),
        ([0.5, float("nan")] * 4, "not a finite, non-zero vector (it holds nan)"),
        ([10**400] * 8, "holds something other than numbers"),
    ],
)
def test_values_beyond_float32_are_refused(
    stub: FakeServer, vector: list[float], detail: str
) -> None:
    error = failure(stub, {"data": [{"index": 0, "embedding": vector}]})
    assert f"the embedding server at {stub.url}" in error.message and detail in error.message
    assert "\n" not in str(error) and error.exit_code == ExitCode.MODEL


def test_ingest_refuses_vectors_beyond_float32_with_exit_5(
    stub: FakeServer, docs: Path, tmp_path: Path, capsys: Capture
) -> None:
    def huge(handler: BaseHTTPRequestHandler) -> None:
        # The probe gets a good vector; the chunks get values that overflow float32, whose
        # norm overflows even in float64: normalised, they were stored as zero vectors.
        texts = stub.posts[-1].body["input"]
        vector = stub_vector(texts[0]) if len(stub.posts) == 1 else [1e300] * 8
        data = [{"index": i, "embedding": vector} for i in range(len(texts))]
        send(handler, 200, json.dumps({"data": data}).encode())

    stub.reply = Reply(write=huge)
    store = tmp_path / "store"
    code, out, err = run(
        capsys, "ingest", str(docs), "--store", str(store), "--embed-url", stub.url
    )
    assert code == ExitCode.MODEL and out == "" and err.count("\n") == 1
    assert f"the embedding server at {stub.url}" in err and "(it holds 1e+300)" in err
    with Store.open(store) as opened:
        assert opened.count_unembedded() == len(DOCS)


def test_ingest_with_a_models_listing_over_the_cap_is_exit_5_in_one_line(
    stub: FakeServer, docs: Path, tmp_path: Path
) -> None:
    stub.listing = HUGE_LISTING
    done = rag("ingest", str(docs), "--store", str(tmp_path / "s"), "--embed-url", stub.url)
    assert done.returncode == 5, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert f"the embedding server at {stub.url} sent a reply that is not" in done.stderr
    assert "longer than 8 MiB" in done.stderr


@pytest.mark.parametrize("status", [401, 200])
def test_an_echoed_embedding_key_is_redacted(
    stub: FakeServer,
    docs: Path,
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    monkeypatch.setenv("RAG_EMBED_API_KEY", KEY)
    echo = json.dumps({"error": {"message": f"Invalid API key: {KEY}"}})
    stub.reply = Reply(status, "application/json", echo.encode())
    code, _, err = run(
        capsys, "ingest", str(docs), "--store", str(tmp_path / "s"), "--embed-url", stub.url
    )
    assert code == ExitCode.MODEL and err.count("\n") == 1
    assert "SECRET" not in err and "Invalid API key: [redacted]" in err


def test_listed_names_holding_the_key_are_redacted(stub: FakeServer) -> None:
    stub.models = [f"model-for-{KEY}"]
    options = EmbedServerOptions(stub.url, KEY)
    with pytest.raises(ConfigMismatchError) as raised:
        ServerEmbedder(options, MODEL, None)
    assert "SECRET" not in str(raised.value) and "'model-for-[redacted]'" in str(raised.value)
