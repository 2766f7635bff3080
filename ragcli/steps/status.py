"""`rag status`: what a store holds."""

from __future__ import annotations

from pathlib import Path

from ragcli.records import StoreStatus
from ragcli.store import Store


def status(store_dir: Path) -> StoreStatus:
    """Count the documents, chunks, vectors and index entries of a store."""
    with Store.open(store_dir) as store:
        return store.status()
