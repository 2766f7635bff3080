"""How a store is built: the settings a new one gets, agreement checks, its embedder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragcli.bundled import BUNDLED_EMBEDDER
from ragcli.embedding.base import Embedder
from ragcli.embedding.factory import canonical_embedder_spec, make_embedder
from ragcli.embedding.server import EmbedServerOptions, is_server_spec, server_spec
from ragcli.errors import ConfigMismatchError, EmptyStoreError, UsageError, setting
from ragcli.records import (
    DEFAULT_CHUNKING,
    DEFAULT_HNSW,
    ChunkingSettings,
    HnswSettings,
    Manifest,
    RaySettings,
)
from ragcli.store import FORMAT_VERSION, Store
from ragcli.vectors.factory import FAISS_VECTORS, canonical_vectors_uri, new_collection_name


@dataclass(frozen=True)
class BuildSettings:
    """What a new store is built with; None means "whatever the store already uses"."""

    embedder: str | None
    chunking: ChunkingSettings | None
    hnsw: HnswSettings | None
    threads: int | None
    # Embed documents with the checked int8 ONNX copy of the model when there is one.
    int8: bool
    # Where a new store keeps its vectors (a URI, see vectors.factory.vector_backend).
    vectors: str | None = None
    # Embed on this OpenAI-compatible server (--embed-url); `embedder` then names its model.
    embed_server: EmbedServerOptions | None = None
    # Embed on a Ray runtime instead of in this process.
    ray: RaySettings | None = None
    # What the store's vector database asks for (Milvus); never recorded in the store.
    vectors_token: str | None = None

    @classmethod
    def as_stored(cls, int8: bool = True, vectors_token: str | None = None) -> BuildSettings:
        """Build with whatever the store already uses (or a new store's defaults)."""
        return cls(None, None, None, None, int8=int8, vectors_token=vectors_token)

    def wanted_spec(self) -> str | None:
        """The embedder spec asked for, as a store records it; None if none was named."""
        if self.embed_server is not None:
            return server_spec(self.embedder or "")  # "server:" = the first model it lists
        return canonical_embedder_spec(self.embedder) if self.embedder else None


def require_engines(wanted: BuildSettings) -> None:
    """Fail before any work when engines asked for exclude each other or are not installed."""
    if wanted.ray is not None and wanted.embed_server is not None:
        raise UsageError(
            f"--ray and {setting('embed_url')} exclude each other: Ray embeds with a local model"
        )
    if wanted.ray is not None:
        from ragcli.embedding.ray import require_ray

        require_ray()


def settle_build(store: Store, wanted: BuildSettings) -> tuple[Manifest, Embedder]:
    """Record how a new store is built; refuse settings that disagree with an existing one."""
    manifest = store.manifest
    if manifest is None:
        vectors = canonical_vectors_uri(wanted.vectors or FAISS_VECTORS)
        spec = wanted.wanted_spec() or BUNDLED_EMBEDDER
        embedder = make_embedder(spec, wanted.threads, wanted.embed_server)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            embedder=embedder.spec,
            dimension=embedder.dimension,
            max_text_tokens=embedder.max_text_tokens,
            normalized=True,
            chunking=wanted.chunking or DEFAULT_CHUNKING,
            hnsw=wanted.hnsw or DEFAULT_HNSW,
            vectors=vectors,
            vector_collection=new_collection_name(vectors),
        )
        # Before the manifest: a vector database that cannot be reached leaves no binding.
        store.prepare_vectors(manifest)
        store.write_manifest(manifest)
        return manifest, embedder
    _check_agrees(store.root, manifest, wanted)
    return manifest, stored_embedder(manifest, wanted.threads, wanted.embed_server)


def stored_embedder(
    manifest: Manifest, threads: int | None, server: EmbedServerOptions | None
) -> Embedder:
    """Build the embedder a store records (on `server` when it was built on one)."""
    return make_embedder(manifest.embedder, threads, server, manifest.dimension)


def built_with(
    store: Store, threads: int | None = None, server: EmbedServerOptions | None = None
) -> tuple[Manifest, Embedder]:
    """Return how a non-empty store was built and the embedder recorded in it."""
    manifest = store.manifest
    if manifest is None:
        raise EmptyStoreError.at(store.root)
    return manifest, stored_embedder(manifest, threads, server)


def open_for_reading(root: Path, threads: int | None = None) -> tuple[Store, Manifest, Embedder]:
    """Open an existing, non-empty store and the embedder recorded in it."""
    store = Store.open(root)
    try:
        return store, *built_with(store, threads)
    except BaseException:
        store.close()
        raise


def _check_agrees(root: Path, manifest: Manifest, wanted: BuildSettings) -> None:
    rebuild = f"use another {setting('store')}, or delete {root} and ingest again to rebuild"
    if wanted.embed_server is not None and not is_server_spec(manifest.embedder):
        raise ConfigMismatchError(
            f"store {root} was built with embedder {manifest.embedder!r}, "
            "not one on an embedding server",
            f"drop {setting('embed_url')} (and RAG_EMBED_URL), or {rebuild}",
        )
    spec = wanted.wanted_spec() if wanted.embedder else None
    if spec and spec != manifest.embedder:
        raise ConfigMismatchError(
            f"store {root} was built with embedder {manifest.embedder!r}, "
            f"not {spec if wanted.embed_server else wanted.embedder!r}",
            rebuild,
        )
    if wanted.vectors and canonical_vectors_uri(wanted.vectors) != manifest.vectors:
        raise ConfigMismatchError(
            f"store {root} keeps its vectors in {manifest.vectors!r}, not {wanted.vectors!r}",
            rebuild,
        )
    if wanted.chunking and wanted.chunking != manifest.chunking:
        raise ConfigMismatchError(
            f"store {root} was built with {manifest.chunking}, not {wanted.chunking}", rebuild
        )


def check_embedder(root: Path, wanted: BuildSettings) -> None:
    """Fail if a store exists and was built with another embedder than the one asked for."""
    with Store.open(root) as store:
        manifest = store.manifest
        if manifest is not None:
            _check_agrees(root, manifest, wanted)
