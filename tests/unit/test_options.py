"""options.py: each component's options filled from the one resolved Settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.errors import UsageError
from ragcli.options import (
    ask_options,
    build_settings,
    chunking,
    embed_server_options,
    llm_options,
    retrieval_settings,
)
from ragcli.records import ChunkingSettings, HnswSettings, Manifest
from ragcli.settings import ConfigFile, Settings, as_flag, resolve
from ragcli.store import FORMAT_VERSION, Store
from ragcli.vectors.milvus import MilvusVectors

ENV = {
    "RAG_LLM_URL": "http://llm:8000/v1",
    "RAG_LLM_API_KEY": "llm-key",
    "RAG_EMBED_URL": "http://embed:8080/v1",
    "RAG_EMBED_API_KEY": "embed-key",
    "RAG_MILVUS_TOKEN": "milvus-token",
    "RAG_CONTEXT_TOKENS": "2048",
    "RAG_MODE": "keyword",
}


def settings(**flags: object) -> Settings:
    return resolve(flags, ENV, ConfigFile(Path("/nonexistent.toml"), {}, exists=False))


def test_each_component_gets_its_settings_and_secrets() -> None:
    chosen = settings(top_k=7)
    llm = llm_options(chosen)
    assert (llm.server_url, llm.api_key, llm.context_tokens) == (
        "http://llm:8000/v1",
        "llm-key",
        2048,
    )
    server = embed_server_options(chosen)
    assert server is not None and (server.url, server.api_key) == (
        "http://embed:8080/v1",
        "embed-key",
    )
    retrieval = retrieval_settings(chosen)
    assert (retrieval.mode, retrieval.embed_server, retrieval.vectors_token) == (
        "keyword",
        server,
        "milvus-token",
    )
    ask = ask_options(chosen, strict=True)
    assert (ask.top_k, ask.strict, ask.llm, ask.retrieval) == (7, True, llm, retrieval)
    build = build_settings(chosen, int8=False)
    assert (build.embed_server, build.vectors_token, build.int8) == (server, "milvus-token", False)


def test_only_a_command_that_may_make_a_store_asks_for_its_chunking_and_vectors() -> None:
    chosen = settings(chunk_tokens=100, vectors="faiss")
    made = build_settings(chosen, int8=True)
    assert (made.chunking, made.vectors) == (ChunkingSettings(100, 32), "faiss")
    existing = build_settings(chosen, int8=True, new_store=False)
    assert (existing.chunking, existing.vectors) == (None, None)


def test_a_chunk_overlap_clash_names_the_settings() -> None:
    with pytest.raises(UsageError) as raised:
        chunking(settings(chunk_tokens=32))
    assert str(raised.value) == (
        "chunk_tokens must be more than the overlap (32, the default overlap_tokens), not 32"
    )
    assert raised.value.spelled(as_flag).startswith("--chunk-tokens must be more than")


def test_the_milvus_token_goes_with_the_store_that_opens_the_vectors(tmp_path: Path) -> None:
    manifest = Manifest(
        FORMAT_VERSION,
        "fake:8",
        8,
        64,
        True,
        ChunkingSettings(64, 8),
        HnswSettings(),
        vectors="milvus://milvus.example:19530",
        vector_collection="ragcli_test",
    )
    token = build_settings(settings(), int8=True).vectors_token
    with Store.open(tmp_path / "store", create=True, vectors_token=token) as store:
        backend = store.vector_backend(manifest)
    assert isinstance(backend, MilvusVectors)
    assert backend._target().token == "milvus-token"
    with Store.open(tmp_path / "store") as store:  # no token given, none used
        backend = store.vector_backend(manifest)
    assert isinstance(backend, MilvusVectors) and backend._target().token is None
