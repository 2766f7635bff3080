"""The retrieval modes, named once: the settings, the CLI's choices and MCP's schema use these."""

from __future__ import annotations

# Dense (HNSW over embeddings), keyword (FTS5 BM25), or both fused.
RETRIEVAL_MODES = ("hybrid", "dense", "keyword")
