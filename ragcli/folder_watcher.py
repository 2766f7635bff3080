"""Watching folders for changed files: watchfiles (Rust notify; inotify on Linux) in a thread.

watchfiles is imported only here, and only when a watch starts: `rag --help` and every
other command never load it. Its events arrive on a thread and queue up, so changes made
while a change is synced are kept, and merged into the next batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

from ragcli.errors import InputNotFoundError, ModelError

INSTALL_HINT = "pip install 'ragcli[watch]'"
# A burst of events ends after this long without one (an editor's save writes several
# events within milliseconds); a stream of changes is cut into batches at most this long.
QUIET_MS = 400
MAX_BATCH_MS = 2_000
# How often the watching thread looks at its stop flag when nothing happens.
IDLE_TICK_MS = 200
READY_TIMEOUT_S = 60.0


class FolderWatcher(Protocol):
    """Says which paths changed in the folders it watches."""

    def changes(self, timeout_s: float) -> set[str]:
        """Wait up to timeout_s for changed paths; return every one seen since the last call."""
        ...


def require_watcher() -> None:
    """Fail before any work when watchfiles is not installed; without importing it."""
    import importlib.util

    try:
        found = importlib.util.find_spec("watchfiles") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ModelError("--watch needs watchfiles, which is not installed", INSTALL_HINT)


@contextmanager
def watching(folders: Sequence[str], wanted: Callable[[str], bool]) -> Iterator[FolderWatcher]:
    """Watch folders (recursively) for changes to paths `wanted` keeps, until the block ends.

    Returns once the folders are watched, so nothing changed after that goes unseen.
    """
    watcher = _NotifyWatcher(folders, wanted)
    try:
        watcher.wait_ready()
        yield watcher
    finally:
        watcher.stop()


class _NotifyWatcher:
    """watchfiles' generator run on a daemon thread, its batches handed over in a queue."""

    def __init__(self, folders: Sequence[str], wanted: Callable[[str], bool]) -> None:
        self._folders = list(folders)
        self._wanted = wanted
        self._queue: queue.Queue[set[str] | BaseException] = queue.Queue()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rag-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            import watchfiles
        except ImportError:
            self._fail(ModelError("--watch needs watchfiles, which is not installed", INSTALL_HINT))
            return
        try:
            for batch in watchfiles.watch(
                *self._folders,
                watch_filter=lambda _change, path: self._wanted(path),
                debounce=MAX_BATCH_MS,
                step=QUIET_MS,
                stop_event=self._stop,
                rust_timeout=IDLE_TICK_MS,
                yield_on_timeout=True,  # the first yield says the watches are in place
                raise_interrupt=False,
                # A folder that cannot be listed is reported by the sync, not fatal here.
                ignore_permission_denied=True,
            ):
                self._ready.set()
                if batch:
                    self._queue.put({path for _change, path in batch})
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, said there
            self._fail(InputNotFoundError(f"cannot watch {', '.join(self._folders)}: {exc}"))

    def _fail(self, error: BaseException) -> None:
        self._queue.put(error)
        self._ready.set()

    def wait_ready(self) -> None:
        """Block until the folders are watched; raise what stopped the watching thread."""
        self._ready.wait(READY_TIMEOUT_S)
        self._raise_failure()

    def _raise_failure(self) -> None:
        if not self._thread.is_alive() or not self._ready.is_set():
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                item = InputNotFoundError(f"cannot watch {', '.join(self._folders)}")
            if isinstance(item, BaseException):
                raise item
            self._queue.put(item)

    def changes(self, timeout_s: float) -> set[str]:
        """Wait up to timeout_s for changed paths; return every one seen since the last call."""
        paths: set[str] = set()
        try:
            item = self._queue.get(timeout=timeout_s)
            while True:
                if isinstance(item, BaseException):
                    raise item
                paths |= item
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        if not paths:
            self._raise_failure()
        return paths

    def stop(self) -> None:
        """Stop watching and wait (briefly) for the thread to end."""
        self._stop.set()
        self._thread.join(timeout=2 * IDLE_TICK_MS / 1000 + QUIET_MS / 1000 + 1)
