"""ragcli's side of the PDF worker (pdf_worker.py): start it, ask it, replace it, lend it out.

A worker is killed when a request passes its deadline and replaced by a fresh one that opens
the same file again; idle workers are kept for the next file, and all are stopped at exit.
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
from typing import Any

from ragcli.errors import LoadError
from ragcli.text.ocr import MAX_PAGE_PIXELS, RENDER_DPI
from ragcli.text.pdf_messages import receive_message, send_message

# Starting Python and importing pypdf, on a loaded machine.
_START_TIMEOUT_S = 60.0
# A page's text is bounded by its deadline; this only guards against a garbled stream.
_MAX_REPLY_BYTES = 1 << 30


class PageFailed(Exception):
    """One page could not be read; the reason is the message."""


class PdfWorker:
    """A pypdf worker process and the socket it answers on; dead once a request fails."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.fd: int | None = None
        self.timeout_s = 0.0
        self.image = False
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
        except PageFailed as exc:
            raise LoadError(f"the PDF reader process did not start ({exc})") from None

    def open(self, fd: int, timeout_s: float, image: bool = False) -> int:
        """Open the PDF (or image) behind fd; return its page count or raise LoadError."""
        self.fd, self.timeout_s, self.image = fd, timeout_s, image
        unreadable = "not a readable image" if image else "not a readable PDF"
        try:
            request = {"open": True, "image": image, "pixels": MAX_PAGE_PIXELS}
            reply = self._ask(request, timeout_s, fd)
        except PageFailed as exc:
            raise LoadError(f"{unreadable} ({exc})") from None
        if "error" in reply:
            plain = reply.get("plain")
            raise LoadError(reply["error"] if plain else f"{unreadable} ({reply['error']})")
        count = int(reply["pages"])
        if not count:
            raise LoadError("PDF has no pages")
        return count

    def render(self, number: int, path: Path, timeout_s: float) -> None:
        """Draw one page as a grayscale PNG at path for OCR; PageFailed as `page` raises it."""
        request = {"render": number, "path": str(path), "dpi": RENDER_DPI}
        reply = self._request({**request, "pixels": MAX_PAGE_PIXELS}, timeout_s)
        if "error" in reply:
            raise PageFailed(reply["error"])

    def page(self, number: int, timeout_s: float) -> str:
        """Return one page's text; raise PageFailed if it fails or passes its deadline.

        After a kill the worker is replaced and the file opened again, for the next page.
        """
        reply = self._request({"page": number}, timeout_s)
        if "error" in reply:
            raise PageFailed(reply["error"])
        return str(reply["text"])

    def _request(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Ask about the open file; after a failure, a fresh worker has it open again."""
        try:
            return self._ask(request, timeout_s)
        except PageFailed:
            self._replace()
            raise

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
            raise PageFailed(f"took longer than {timeout_s:g} s") from None
        except (EOFError, OSError, ValueError):
            self.stop()
            ended = f"the reader process ended (exit {self.process.returncode})"
            raise PageFailed(ended) from None
        self.busy = False
        return reply

    def _replace(self) -> None:
        """Take over a fresh process and reopen the current file in it."""
        fresh = PdfWorker()
        _RUNNING.discard(fresh)
        self.sock, self.process, self.busy = fresh.sock, fresh.process, False
        _RUNNING.add(self)
        if self.fd is not None:
            self.open(self.fd, self.timeout_s, self.image)

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
_IDLE: list[PdfWorker] = []
_RUNNING: set[PdfWorker] = set()
_LOCK = threading.Lock()


@contextmanager
def borrowed_worker() -> Iterator[PdfWorker]:
    """A worker for one document, from the idle ones or started; given back if it is clean."""
    with _LOCK:
        worker = _IDLE.pop() if _IDLE else None
    if worker is not None and not worker.alive:
        worker.stop()  # ended while idle (killed from outside)
        worker = None
    worker = worker or PdfWorker()
    try:
        yield worker
    finally:
        with contextlib.suppress(PageFailed):
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
