"""Text of PDF files, page by page; a page that hangs or fails is skipped, the rest kept.

pypdf runs in a worker process (ragcli.text.pdf_worker) that is killed when a page passes
its deadline and started afresh for the next one: a bound built on an exception raised from
a signal handler does not hold (a finalizer or a broad `except` in a parser swallows it).
One worker serves every PDF of a run, so a page costs a round trip, not a process start.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.pdf_worker import receive_message, send_message

# Starting Python and importing pypdf, on a loaded machine.
_START_TIMEOUT_S = 60.0
# A page's text is bounded by its deadline; this only guards against a garbled stream.
_MAX_REPLY_BYTES = 1 << 30


class _PageFailed(Exception):
    """One page could not be read; the reason is the message."""


def pdf_pages(stream: BinaryIO, page_timeout_s: float) -> Iterator[Page]:
    """Yield the text of each PDF page that has some; raises LoadError when none can.

    Opening the file and reading each page are each given page_timeout_s (0: no bound).
    """
    with _borrowed_worker() as worker:
        count = worker.open(stream.fileno(), page_timeout_s)
        failed: list[str] = []
        with_text = 0
        for number in range(1, count + 1):
            try:
                text = worker.page(number, page_timeout_s)
            except _PageFailed as exc:
                failed.append(f"page {number}: {exc}")
                continue
            if text.strip():
                with_text += 1
                yield Page(number, text)
    if len(failed) == count:
        raise LoadError(f"no page could be read ({failed[0]})")
    if not with_text:
        raise LoadError("no text layer (scanned PDF?): needs OCR")


class _Worker:
    """A pypdf worker process and the socket it answers on; dead once a request fails."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.fd: int | None = None
        self.timeout_s = 0.0
        self.busy = False
        # This ragcli first on the worker's path, whatever folder the user runs from.
        boot = f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); " + _BOOT
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", boot, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout carries results only
            )
        except OSError as exc:
            ours.close()
            raise LoadError(f"cannot start the PDF reader process ({exc.strerror})") from exc
        finally:
            theirs.close()
        _RUNNING.add(self)
        try:
            self._ask({}, _START_TIMEOUT_S)
        except _PageFailed as exc:
            raise LoadError(f"the PDF reader process did not start ({exc})") from None

    def open(self, fd: int, timeout_s: float) -> int:
        """Open the PDF behind fd; return its page count or raise LoadError."""
        self.fd, self.timeout_s = fd, timeout_s
        try:
            reply = self._ask({"open": True}, timeout_s, fd)
        except _PageFailed as exc:
            raise LoadError(f"not a readable PDF ({exc})") from None
        if "error" in reply:
            plain = reply.get("plain")
            raise LoadError(reply["error"] if plain else f"not a readable PDF ({reply['error']})")
        count = int(reply["pages"])
        if not count:
            raise LoadError("PDF has no pages")
        return count

    def page(self, number: int, timeout_s: float) -> str:
        """Return one page's text; raise _PageFailed if it fails or passes its deadline.

        After a kill the worker is replaced and the file opened again, for the next page.
        """
        try:
            reply = self._ask({"page": number}, timeout_s)
        except _PageFailed:
            self._replace()
            raise
        if "error" in reply:
            raise _PageFailed(reply["error"])
        return str(reply["text"])

    def close_document(self) -> None:
        """Let the worker drop the open file."""
        self.fd = None
        self._ask({"close": True}, _START_TIMEOUT_S)

    def _ask(
        self, request: dict[str, Any], timeout_s: float, fd: int | None = None
    ) -> dict[str, Any]:
        """Send request and return the reply; on any failure the process is killed."""
        self.busy = True
        try:
            self.sock.settimeout(timeout_s if timeout_s > 0 else None)
            if request:
                send_message(self.sock, request, fd)
            reply, _ = receive_message(self.sock, _MAX_REPLY_BYTES)
        except TimeoutError:
            self.stop()
            raise _PageFailed(f"took longer than {timeout_s:g} s") from None
        except (EOFError, OSError, ValueError):
            self.stop()
            ended = f"the reader process ended (exit {self.process.returncode})"
            raise _PageFailed(ended) from None
        self.busy = False
        return reply

    def _replace(self) -> None:
        """Take over a fresh process and reopen the current file in it."""
        fresh = _Worker()
        _RUNNING.discard(fresh)
        self.sock, self.process, self.busy = fresh.sock, fresh.process, False
        _RUNNING.add(self)
        if self.fd is not None:
            self.open(self.fd, self.timeout_s)

    def stop(self) -> None:
        """Kill the process (a no-op once it has ended)."""
        _RUNNING.discard(self)
        self.sock.close()
        self.process.kill()
        self.process.wait()

    @property
    def alive(self) -> bool:
        """Whether the process runs and is not in the middle of a request."""
        return not self.busy and self.process.poll() is None


_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = "from ragcli.text.pdf_worker import main; main()"
_IDLE: list[_Worker] = []
_RUNNING: set[_Worker] = set()
_LOCK = threading.Lock()


@contextmanager
def _borrowed_worker() -> Iterator[_Worker]:
    """A worker for one document, from the idle ones or started; given back if it is clean."""
    with _LOCK:
        worker = _IDLE.pop() if _IDLE else None
    if worker is not None and not worker.alive:
        worker.stop()  # ended while idle (killed from outside)
        worker = None
    worker = worker or _Worker()
    try:
        yield worker
    finally:
        with contextlib.suppress(_PageFailed):
            if worker.alive:
                worker.close_document()
        if worker.alive:
            with _LOCK:
                _IDLE.append(worker)
        else:
            worker.stop()


@atexit.register
def _stop_workers() -> None:
    for worker in list(_RUNNING):
        worker.stop()
