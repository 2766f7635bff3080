"""What the store holds: the document list of `rag sources` and the figures of `rag status`."""

from __future__ import annotations

from typing import Any

from ragcli.output.console import display_path
from ragcli.records import StoredDocument, StoreStatus


def document_json(document: StoredDocument) -> dict[str, Any]:
    """A stored document as `rag sources --json` prints it."""
    return {
        "path": document.path,
        "kind": document.kind,
        "size": document.size,
        "sha256": document.sha256,
        "chunks": document.chunks,
        "ingested_at": round(document.ingested_at, 3),
    }


def format_documents(documents: list[StoredDocument]) -> str:
    """What `rag sources` prints: chunk count, kind and path, a line each."""
    lines = [f"{d.chunks:7d}  {d.kind:8}  {display_path(d.path)}" for d in documents]
    total = sum(d.chunks for d in documents)
    lines.append(f"{len(documents)} documents, {total} chunks")
    return "\n".join(lines) + "\n"


def status_json(status: StoreStatus, llm: str) -> dict[str, Any]:
    """What `rag status --json` prints; llm is the model `ask` uses by default."""
    manifest = status.manifest
    return {
        "store": status.path,
        "documents": status.documents,
        "chunks": status.chunks,
        "embedded": status.embedded,
        "indexed": status.indexed,
        "tombstones": status.tombstones,
        "index_bytes": status.index_bytes,
        "index_problem": status.index_problem,
        "vectors": status.vectors,
        "vector_count": status.vector_count,
        "embedder": manifest.embedder if manifest else None,
        "dimension": manifest.dimension if manifest else None,
        "chunking": vars(manifest.chunking) if manifest else None,
        "hnsw": vars(manifest.hnsw) if manifest else None,
        "llm": llm,
    }


def format_status(status: StoreStatus, llm: str) -> str:
    """What `rag status` prints."""
    data = status_json(status, llm)
    width = max(len(key) for key in data)
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"{key.ljust(width)}  {value if value is not None else '-'}")
    return "\n".join(lines) + "\n"
