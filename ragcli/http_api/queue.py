"""The one model's queue: every call on one worker thread, a bounded number waiting."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """The model is busy and as many requests wait as the queue holds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the server is busy: {retry_after_s} s until it may have room")
        self.retry_after_s = retry_after_s


class ModelQueue:
    """Runs calls one at a time on one thread; refuses a call when `size` already wait.

    SQLite connections and llama.cpp contexts stay on the thread that made them, and the
    event loop stays free to answer /health, refuse with 429 and stream tokens while the
    model works. A call counts until its work has finished on the worker thread, even when
    the client that asked has gone, so the backlog never outgrows the bound.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.pending = 0  # the call running and those waiting; touched on the loop only
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-serve")
        self._mean_s = 1.0  # seconds a call takes, smoothed: what Retry-After is made of

    def submit(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """Queue work (from the event loop); QueueFull when the queue has no room."""
        if self.pending > self.size:
            raise QueueFull(max(1, math.ceil(self._mean_s * self.pending)))
        loop = asyncio.get_running_loop()
        self.pending += 1

        def finished(_: Future[T]) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._finished)

        submitted = self._pool.submit(self._timed, work)
        submitted.add_done_callback(finished)
        return asyncio.wrap_future(submitted)

    def _timed(self, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return work()
        finally:
            elapsed = time.perf_counter() - started
            self._mean_s = 0.8 * self._mean_s + 0.2 * elapsed

    def _finished(self) -> None:
        self.pending -= 1

    def run_now(self, work: Callable[[], T]) -> T:
        """Run work on the worker thread and wait for it, outside the event loop."""
        return self._pool.submit(work).result()

    def close(self) -> None:
        """Stop the worker thread once what it was given is done."""
        self._pool.shutdown()
