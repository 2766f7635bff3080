"""`rag sources` and `rag rm`: list and remove stored documents."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcli.errors import InputNotFoundError
from ragcli.records import StoredDocument
from ragcli.steps.index import update_index
from ragcli.store import Store, writer_lock


def list_documents(store_dir: Path) -> list[StoredDocument]:
    """Return the stored documents with their chunk counts."""
    with Store.open(store_dir) as store:
        return store.documents()


@dataclass(frozen=True)
class RemoveResult:
    """Which documents were removed."""

    paths: list[str]
    indexed: int


def remove_documents(
    store_dir: Path, targets: Sequence[Path], wait: bool, on_wait: Callable[[str], None]
) -> RemoveResult:
    """Remove documents stored under the given paths (files, or folders and all below)."""
    with writer_lock(store_dir, wait, on_wait), Store.open(store_dir) as store:
        stored = store.document_paths()
        chosen: list[str] = []
        for target in targets:
            # Match what was stored: absolute paths, not resolved through symlinks.
            wanted = str(target.absolute())
            prefix = wanted.rstrip(os.sep) + os.sep
            matches = [p for p in stored if p == wanted or p.startswith(prefix)]
            if not matches:
                raise InputNotFoundError(f"no stored document at or under {target}",
                                         "see `rag sources`")
            chosen.extend(matches)
        paths = sorted(set(chosen))
        store.remove_documents(paths)
        manifest = store.manifest
        indexed = 0
        if manifest is not None and store.index_path.is_file():
            indexed, _, _ = update_index(store, manifest, rebuild=False)
    return RemoveResult(paths, indexed)
