"""`rag stores`: the stores in the data directory, named stores and the default one."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ragcli.errors import RagError
from ragcli.locations import named_stores
from ragcli.records import StoreSummary
from ragcli.store import Store


def list_stores(defaults: Iterable[Path]) -> list[StoreSummary]:
    """Summarise each store in the data directory; `defaults` are the ones used without --store."""
    chosen = {os.path.realpath(path) for path in defaults}
    return [summarise(path, os.path.realpath(path) in chosen) for path in named_stores()]


def summarise(path: Path, default: bool) -> StoreSummary:
    """A store's name, size and counts; a store that cannot be read says why instead."""
    try:
        with Store.open(path) as store:
            documents, chunks = store.counts()
            manifest = store.manifest
            return StoreSummary(
                name=path.name,
                path=str(path),
                documents=documents,
                chunks=chunks,
                embedder=manifest.embedder if manifest is not None else None,
                size_bytes=store.size_bytes(),
                default=default,
            )
    except RagError as exc:
        return StoreSummary(
            name=path.name,
            path=str(path),
            documents=None,
            chunks=None,
            embedder=None,
            size_bytes=0,
            default=default,
            problem=str(exc),
        )
