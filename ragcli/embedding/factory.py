"""Pick the embedder a spec names: the bundled model, a folder, a server, or a registered one.

Specs: `all-MiniLM-L6-v2` (bundled), `st:PATH` or a bare path (a sentence-transformers
folder), `server:MODEL`, and `PREFIX:...` for a constructor added with `register` (the
tests' `fake:DIM`; see `ragcli.plugins`). The ONNX copies of a Sentence-BERT model, for
questions and for documents, are picked here too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.bundled import BUNDLED_EMBEDDER
from ragcli.errors import ModelError
from ragcli.plugins import load_plugins, split_spec

if TYPE_CHECKING:
    from ragcli.embedding.base import Embedder
    from ragcli.embedding.server import EmbedServerOptions

# Builds an embedder from its whole spec (`fake:64`).
EmbedderConstructor = Callable[[str], "Embedder"]
_registered: dict[str, EmbedderConstructor] = {}


def register(prefix: str, constructor: EmbedderConstructor) -> None:
    """Build the specs `PREFIX:...` with `constructor` (test doubles; see ragcli.plugins)."""
    _registered[prefix] = constructor


def _schemes() -> tuple[str, ...]:
    load_plugins()
    return ("st", "server", *_registered)


def canonical_embedder_spec(spec: str) -> str:
    """Return the spec as a store records it: bundled name, `st:ABSPATH`, `server:`, as given."""
    scheme, rest = split_spec(spec, _schemes(), "st")
    if scheme == "server" or scheme in _registered:
        return spec
    if rest == BUNDLED_EMBEDDER:
        return BUNDLED_EMBEDDER
    return f"st:{Path(rest).expanduser().resolve()}"


def make_embedder(
    spec: str,
    threads: int | None = None,
    server: EmbedServerOptions | None = None,
    dimension: int | None = None,
) -> Embedder:
    """Build the embedder a (canonical or user-given) spec names.

    `server:MODEL` is MODEL on the embedding server `server` names (`server:` alone: the
    first model it lists), checked to give `dimension`-dimensional vectors when that is given.
    """
    scheme, rest = split_spec(spec, _schemes(), "st")
    if scheme == "server":
        from ragcli.embedding.server import ServerEmbedder, require_server

        return ServerEmbedder(require_server(spec, server), rest, dimension)
    if scheme in _registered:
        return _registered[scheme](spec)
    from ragcli.bundled import bundled_embedder_dir
    from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder

    if rest == BUNDLED_EMBEDDER:
        return SentenceTransformerEmbedder(BUNDLED_EMBEDDER, bundled_embedder_dir(), threads)
    folder = Path(rest).expanduser()
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise ModelError(
            f"embedder {rest!r} is not a local sentence-transformers folder",
            f"pass a folder path or {BUNDLED_EMBEDDER}; ragcli never downloads models",
        )
    return SentenceTransformerEmbedder(canonical_embedder_spec(spec), folder.resolve(), threads)


def make_query_embedder(
    spec: str,
    threads: int | None,
    cache_dir: Path,
    server: EmbedServerOptions | None = None,
    dimension: int | None = None,
) -> Embedder:
    """Build the embedder for questions: the verified ONNX export when there is one.

    It gives the same vectors (cosine >= 0.9999, checked at export) without importing torch.
    """
    embedder = make_embedder(spec, threads, server, dimension)
    return onnx_copy(embedder, cache_dir, int8=False, queries=True)


def make_document_embedder(embedder: Embedder, cache_dir: Path) -> Embedder:
    """Return the checked int8 ONNX copy of the embedder for documents, when there is one.

    It embeds about twice as fast as sentence-transformers in fp32 and was checked against
    it at export (mean cosine >= 0.99); otherwise the embedder itself.
    """
    return onnx_copy(embedder, cache_dir, int8=True)


def onnx_copy(embedder: Embedder, cache_dir: Path, int8: bool, queries: bool = False) -> Embedder:
    """Return the checked ONNX (or int8) export of a Sentence-BERT embedder, else itself."""
    from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder

    if isinstance(embedder, SentenceTransformerEmbedder):
        from ragcli.embedding.onnx import OnnxEmbedder
        from ragcli.embedding.onnx_export import export_dir, verified_export

        model = verified_export(export_dir(cache_dir, embedder.spec, embedder.folder), int8)
        if model is not None:
            return OnnxEmbedder(
                embedder.spec, embedder.folder, model, embedder.threads, queries=queries
            )
    return embedder


def prepare_query_embedder(embedder: Embedder, cache_dir: Path, texts: list[str]) -> float | None:
    """Export and check the ONNX query model once; return its lowest cosine, None if n/a.

    Raises nothing: a model that cannot be exported keeps answering through torch.
    """
    from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder

    if not isinstance(embedder, SentenceTransformerEmbedder) or not texts:
        return None
    from ragcli.embedding.onnx_export import (
        export_dir,
        export_query_model,
        exportable,
        verified_export,
    )

    directory = export_dir(cache_dir, embedder.spec, embedder.folder)
    if verified_export(directory) is not None or (directory / "verified.json").is_file():
        return None
    if not exportable(embedder.folder):
        return None
    try:
        return export_query_model(embedder, directory, texts)
    except Exception:  # noqa: BLE001 - an optional speed-up must never fail an index run
        return None
