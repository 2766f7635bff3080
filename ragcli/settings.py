"""Defaults, and where things live on disk when the user does not say."""

from __future__ import annotations

import os
from pathlib import Path

from ragcli.backends.registry import DEFAULT_EMBEDDER, DEFAULT_LLM
from ragcli.records import ChunkingSettings, GenerationSettings, HnswSettings

APP_NAME = "ragcli"
STORE_ENV = "RAG_STORE"

DEFAULT_TOP_K = 5
DEFAULT_CONTEXT_TOKENS = 4096
DEFAULT_MAX_TOKENS = 256
DEFAULT_EMBED_BATCH = 64
# Cosine similarity below which a passage is taken as unrelated to the question. Measured
# with all-MiniLM-L6-v2 on bench/qa_sample_docs.jsonl: off-topic questions' best passage
# scored 0.09-0.16, answerable questions' 0.24 and up.
DEFAULT_MIN_SCORE = 0.2
# Retrieval modes: dense (HNSW over embeddings), keyword (FTS5 BM25), or both fused.
RETRIEVAL_MODES = ("hybrid", "dense", "keyword")
DEFAULT_MODE = "hybrid"
# Answering strategies: one passage a prompt, marginalised (RAG-Sequence), or all passages
# in one prompt. sequence scored EM/F1 far above packed on squad-a (bench/qa_bench.py).
ANSWER_STRATEGIES = ("sequence", "packed")
DEFAULT_STRATEGY = "sequence"
DEFAULT_SEARCH_K = 10
DEFAULT_CHUNKING = ChunkingSettings()
DEFAULT_HNSW = HnswSettings()
DEFAULT_GENERATION = GenerationSettings()

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_LLM",
    "default_store_dir",
    "model_cache_dir",
    "default_threads",
]


def default_store_dir() -> Path:
    """The store used when neither --store nor RAG_STORE is given."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME)) / "store"


def model_cache_dir() -> Path:
    """Where the bundled GGUF is assembled once."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME)) / "models"


def default_threads() -> int:
    """All cores."""
    return os.cpu_count() or 1
