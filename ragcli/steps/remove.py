"""`rag rm`: remove stored documents."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ragcli.errors import InputNotFoundError, UsageError
from ragcli.indexing import update_index
from ragcli.records import RemoveResult
from ragcli.store import Store


def remove_documents(
    store_dir: Path,
    targets: Sequence[str],
    wait: bool,
    on_wait: Callable[[str], None],
    everything: bool = False,
    vectors_token: str | None = None,
) -> RemoveResult:
    """Remove documents stored under the given paths (files, or folders and all below).

    `everything` removes every document; it is the only way to, as an empty or root-like
    target (an unset shell variable, "/", ".") is refused rather than read as "all".
    `vectors_token` is what the store's vector database asks for (Milvus).
    """
    if everything == bool(targets):
        raise UsageError("give the stored files or folders to remove, or --all (not both)")
    for target in targets:
        _check_target(target)
    with Store.open(
        store_dir, write=True, wait=wait, on_wait=on_wait, vectors_token=vectors_token
    ) as store:
        stored = store.document_paths()
        chosen: list[str] = list(stored) if everything else []
        for target in targets:
            matches = [p for p in stored if any(_at_or_under(p, f) for f in stored_forms(target))]
            if not matches:
                raise InputNotFoundError(
                    f"no stored document at or under {target}", "see `rag sources`"
                )
            chosen.extend(matches)
        paths = sorted(set(chosen))
        store.remove_documents(paths)
        manifest = store.manifest
        indexed = 0
        if manifest is not None and store.has_vectors(manifest):
            indexed, _, _ = update_index(store, manifest, rebuild=False)
    return RemoveResult(paths, indexed)


def stored_forms(target: str) -> set[str]:
    """The spellings a document named by `target` may be stored under.

    Documents are stored under their resolved path; stores written before that kept the
    absolute path as given, so that spelling matches too.
    """
    return {str(Path(target).absolute()), os.path.abspath(target), os.path.realpath(target)}


def _check_target(target: str) -> None:
    """Refuse a target that names no folder but would select everything under one."""
    if not target.strip():
        raise UsageError(
            "refusing an empty path: it would remove every document under the current directory",
            "use `rag rm --all` to empty the store",
        )
    names_nothing = all(part in ("", ".", "..") for part in target.split(os.sep))
    if names_nothing or os.path.realpath(target) == os.sep:
        raise UsageError(
            f"refusing to remove everything under {target!r}",
            "name the folder, or use `rag rm --all` to empty the store",
        )


def _at_or_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
