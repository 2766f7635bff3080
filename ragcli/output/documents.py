"""What the store holds: the document list of `rag sources` and the figures of `rag status`."""

from __future__ import annotations

from typing import Any

from ragcli.output.console import display_name, display_path
from ragcli.records import StoredDocument, StoreStatus, StoreSummary


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
        shown = "-" if value is None else display_name(str(value))
        lines.append(f"{key.ljust(width)}  {shown}")
    return "\n".join(lines) + "\n"


def stores_json(data_dir: str, stores: list[StoreSummary]) -> dict[str, Any]:
    """What `rag stores --json` prints: the data directory and each store in it."""
    return {
        "data_dir": data_dir,
        "stores": [
            {
                "name": s.name,
                "path": s.path,
                "documents": s.documents,
                "chunks": s.chunks,
                "embedder": s.embedder,
                "size_bytes": s.size_bytes,
                "default": s.default,
                "problem": s.problem,
            }
            for s in stores
        ],
    }


def format_stores(stores: list[StoreSummary]) -> str:
    """What `rag stores` prints: a row a store, `*` marking the one used without --store."""
    rows = [("NAME", "DOCUMENTS", "CHUNKS", "EMBEDDER", "SIZE", "PATH")]
    for s in stores:
        rows.append(
            (
                ("* " if s.default else "  ") + display_name(s.name),
                "?" if s.documents is None else str(s.documents),
                "?" if s.chunks is None else str(s.chunks),
                "unreadable" if s.problem else display_name(s.embedder or "-"),
                _size(s.size_bytes),
                display_path(s.path),
            )
        )
    rows[0] = ("  " + rows[0][0], *rows[0][1:])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def _size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
