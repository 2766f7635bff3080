"""Text of PDF files and images, page by page; a page that hangs or fails is skipped, the rest kept.

pypdf runs in a worker process (ragcli.text.pdf_worker) that is killed when a page passes
its deadline and started afresh for the next one: a bound built on an exception raised from
a signal handler does not hold (a finalizer or a broad `except` in a parser swallows it).
One worker serves every file of a run, so a page costs a round trip, not a process start.

A page whose text layer is empty or nearly so (ragcli.text.ocr) is drawn by the same worker
and read by Tesseract, when OCR is asked for and can run here; an image file's pages are
always read that way. Drawing and reading a page share one deadline.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.ocr import (
    MAX_PAGE_PIXELS,
    RENDER_DPI,
    OcrBudget,
    OcrFailed,
    OcrOptions,
    check_frame_count,
    missing_engine,
    nearly_empty,
    recognize,
    visible_chars,
)
from ragcli.text.pdf_messages import receive_message, send_message

# Starting Python and importing pypdf, on a loaded machine.
_START_TIMEOUT_S = 60.0
# A page's text is bounded by its deadline; this only guards against a garbled stream.
_MAX_REPLY_BYTES = 1 << 30
_NEEDS_OCR = "no text layer (scanned PDF?): needs OCR"


class _PageFailed(Exception):
    """One page could not be read; the reason is the message."""


@dataclass
class _Tally:
    """What became of a file's pages: why reading or OCR failed, how many had text."""

    failed: list[str] = field(default_factory=list)
    ocr_failed: list[str] = field(default_factory=list)
    with_text: int = 0


def pdf_pages(stream: BinaryIO, page_timeout_s: float, ocr: OcrOptions | None) -> Iterator[Page]:
    """Yield the text of each PDF page that has some; raises LoadError when none can.

    Opening the file and reading each page's text layer are each given page_timeout_s (0: no
    bound); a page OCR reads gets ocr.page_timeout_s more, within the file's OCR bounds (a
    LoadError past them). Without `ocr`, no page is OCR'd.
    """
    unable = None if ocr is None else missing_engine(ocr, render_pdf=True)
    budget = OcrBudget(ocr) if ocr is not None and unable is None else None
    with _borrowed_worker() as worker, _scratch_folder() as scratch:
        count = worker.open(stream.fileno(), page_timeout_s)
        tally = _Tally()
        for number in range(1, count + 1):
            try:
                text = worker.page(number, page_timeout_s)
            except _PageFailed as exc:
                tally.failed.append(f"page {number}: {exc}")
                continue
            page = Page(number, text)
            if budget is not None and nearly_empty(text):
                page = _with_ocr(worker, scratch, page, budget, tally)
            if page.text.strip():
                tally.with_text += 1
                yield page
    if len(tally.failed) == count:
        raise LoadError(f"no page could be read ({tally.failed[0]})")
    if not tally.with_text:
        if ocr is None:
            raise LoadError(f"{_NEEDS_OCR}, which is turned off")
        if unable is not None:
            raise LoadError(f"{_NEEDS_OCR}: {unable}")
        if tally.ocr_failed:
            raise LoadError(f"no text layer, and OCR could not read it ({tally.ocr_failed[0]})")
        raise LoadError("no text layer, and OCR found no text")


def image_pages(stream: BinaryIO, page_timeout_s: float, ocr: OcrOptions | None) -> Iterator[Page]:
    """Yield the OCR text of an image (each frame of a multi-page TIFF is a page).

    An image in which OCR finds no text yields nothing (a photograph, an icon); one OCR
    cannot read here, or with more frames than ocr.max_pages, is a LoadError saying why.
    """
    if ocr is None:
        raise LoadError("an image needs OCR, which is turned off")
    unable = missing_engine(ocr, render_pdf=False)
    if unable is not None:
        raise LoadError(f"an image needs OCR: {unable}")
    with _borrowed_worker() as worker, _scratch_folder() as scratch:
        count = worker.open(stream.fileno(), page_timeout_s, image=True)
        check_frame_count(count, ocr)
        tally, budget = _Tally(), OcrBudget(ocr)
        for number in range(1, count + 1):
            blank = Page(number if count > 1 else None, "")
            page = _with_ocr(worker, scratch, blank, budget, tally)
            if page.text.strip():
                yield page
    if len(tally.ocr_failed) == count:
        raise LoadError(f"OCR could not read it ({tally.ocr_failed[0]})")


def _with_ocr(worker: _Worker, scratch: Path, page: Page, budget: OcrBudget, tally: _Tally) -> Page:
    """The page as OCR reads it, when that finds more text than it has; else the page.

    LoadError when the file has used up its OCR pages or seconds (budget).
    """
    timeout_s = budget.begin_page()
    started = time.monotonic()
    image = scratch / "page.png"
    number = page.number or 1
    try:
        worker.render(number, image, timeout_s)
        dpi = None if worker.image else RENDER_DPI
        text = recognize(image, budget.options, started + timeout_s - time.monotonic(), dpi)
    except (_PageFailed, OcrFailed) as exc:
        budget.end_page(time.monotonic() - started, failed=True)
        tally.ocr_failed.append(f"page {number}: {exc}")
        return page
    finally:
        image.unlink(missing_ok=True)
    budget.end_page(time.monotonic() - started, failed=False)
    if visible_chars(text) <= visible_chars(page.text):
        return page
    return Page(page.number, text, ocr=True)


@contextmanager
def _scratch_folder() -> Iterator[Path]:
    """A private folder for the page images of one file."""
    with tempfile.TemporaryDirectory(prefix="ragcli-ocr-") as folder:
        yield Path(folder)


class _Worker:
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
        except _PageFailed as exc:
            raise LoadError(f"the PDF reader process did not start ({exc})") from None

    def open(self, fd: int, timeout_s: float, image: bool = False) -> int:
        """Open the PDF (or image) behind fd; return its page count or raise LoadError."""
        self.fd, self.timeout_s, self.image = fd, timeout_s, image
        unreadable = "not a readable image" if image else "not a readable PDF"
        try:
            request = {"open": True, "image": image, "pixels": MAX_PAGE_PIXELS}
            reply = self._ask(request, timeout_s, fd)
        except _PageFailed as exc:
            raise LoadError(f"{unreadable} ({exc})") from None
        if "error" in reply:
            plain = reply.get("plain")
            raise LoadError(reply["error"] if plain else f"{unreadable} ({reply['error']})")
        count = int(reply["pages"])
        if not count:
            raise LoadError("PDF has no pages")
        return count

    def render(self, number: int, path: Path, timeout_s: float) -> None:
        """Draw one page as a grayscale PNG at path for OCR; _PageFailed as `page` raises it."""
        request = {"render": number, "path": str(path), "dpi": RENDER_DPI}
        reply = self._request({**request, "pixels": MAX_PAGE_PIXELS}, timeout_s)
        if "error" in reply:
            raise _PageFailed(reply["error"])

    def page(self, number: int, timeout_s: float) -> str:
        """Return one page's text; raise _PageFailed if it fails or passes its deadline.

        After a kill the worker is replaced and the file opened again, for the next page.
        """
        reply = self._request({"page": number}, timeout_s)
        if "error" in reply:
            raise _PageFailed(reply["error"])
        return str(reply["text"])

    def _request(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Ask about the open file; after a failure, a fresh worker has it open again."""
        try:
            return self._ask(request, timeout_s)
        except _PageFailed:
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
