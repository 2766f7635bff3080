"""The single-writer lock of a store directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ragcli.errors import StoreLockedError, StoreNotFoundError
from ragcli.files import make_folders, open_regular
from ragcli.store.faults import file_error
from ragcli.store.layout import LOCK_NAME


@contextlib.contextmanager
def writer_lock(
    root: Path, wait: bool, on_wait: Callable[[str], None], create: bool = False
) -> Iterator[None]:
    """Hold a store's single-writer lock; wait for it (saying so) or fail at once."""
    if not root.is_dir():
        ensure_store_dir(root, create)
    try:
        descriptor = open_regular(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    except OSError as exc:
        raise file_error(exc, root / LOCK_NAME) from exc
    handle = os.fdopen(descriptor, "a+")
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise StoreLockedError(
                    f"store {root} is being written by another rag process",
                    "try again when it finishes, or drop --no-wait to wait for it",
                ) from None
            on_wait(f"waiting for another rag process to finish writing {root}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_store_dir(root: Path, create: bool) -> None:
    """Make the store directory when asked to create a store; else say there is none."""
    if not create:
        raise StoreNotFoundError.at(root)
    try:
        make_folders(root)
    except OSError as exc:
        raise file_error(exc, root) from exc
