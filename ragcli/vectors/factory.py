"""Pick a store's vector backend from the URI its manifest records: `faiss` or Milvus.

The only place that knows which URIs name which backend: settings validate `--vectors`
here, a new store records the canonical URI from here, and the store opens its vectors
through `backend_for`. Adding a backend means a module in this package and a line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragcli.errors import UsageError

if TYPE_CHECKING:
    from ragcli.records import Manifest
    from ragcli.vectors.base import IndexFileAccess, VectorBackend


# The URIs a store may keep its vectors at, for messages (this module tells them apart).
VECTOR_FORMS = (
    "faiss, milvus:///path/to/local.db (Milvus Lite), milvus://host:19530 or https://host"
)

# The vector backend of a store that records none: its FAISS index file.
FAISS_VECTORS = "faiss"
MILVUS_VECTORS = "milvus"
_MILVUS_PREFIXES = ("milvus://", "http://", "https://")


def is_vectors_uri(uri: str) -> bool:
    """Whether a URI names a vector backend at all (its address is checked on first use)."""
    return uri == FAISS_VECTORS or uri.startswith(_MILVUS_PREFIXES)


def vector_backend(uri: str) -> str:
    """Name the backend a vectors URI selects: `faiss` or `milvus`; UsageError otherwise."""
    if uri == FAISS_VECTORS:
        return FAISS_VECTORS
    if uri.startswith(_MILVUS_PREFIXES):
        return MILVUS_VECTORS
    raise UsageError(f"unknown vector store {uri!r}", f"use {VECTOR_FORMS}")


def canonical_vectors_uri(uri: str) -> str:
    """Return the vectors URI as a new store records it (a Milvus Lite path made absolute)."""
    if vector_backend(uri) == FAISS_VECTORS:
        return uri
    from ragcli.vectors.milvus_connection import canonical_uri  # no pymilvus: only parsing

    return canonical_uri(uri)


def new_collection_name(uri: str) -> str | None:
    """A collection of its own for a new store at `uri`, so stores can share one database.

    None for a backend that keeps the vectors in the store directory.
    """
    if vector_backend(uri) == FAISS_VECTORS:
        return None
    import uuid

    return f"ragcli_{uuid.uuid4().hex[:16]}"


def backend_for(
    manifest: Manifest, files: IndexFileAccess, token: str | None = None
) -> VectorBackend:
    """The backend keeping a store's vectors; `files` is the store, for a backend in it.

    `token` is what a vector database asks for (the milvus_token setting), never recorded.
    """
    if manifest.vectors == FAISS_VECTORS:
        from ragcli.vectors.faiss_hnsw import FaissVectors

        return FaissVectors(manifest, files)
    from ragcli.vectors.milvus import MilvusVectors

    return MilvusVectors(manifest, token)
