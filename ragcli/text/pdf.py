"""Text of PDF files and images, page by page; a page that hangs or fails is skipped, the rest kept.

pypdf runs in a worker process (ragcli.text.pdf_worker) that is killed when a page passes
its deadline and started afresh for the next one: a bound built on an exception raised from
a signal handler does not hold (a finalizer or a broad `except` in a parser swallows it).
One worker serves every file of a run, so a page costs a round trip, not a process start
(pdf_worker_pool.py starts, replaces and lends the workers).

A page whose text layer is empty or nearly so (ragcli.text.ocr) is drawn by the same worker
and read by Tesseract, when OCR is asked for and can run here; an image file's pages are
always read that way. Drawing and reading a page share one deadline.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.ocr import (
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
from ragcli.text.pdf_worker_pool import PageFailed, PdfWorker, borrowed_worker

_NEEDS_OCR = "no text layer (scanned PDF?): needs OCR"


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
    with borrowed_worker() as worker, _scratch_folder() as scratch:
        count = worker.open(stream.fileno(), page_timeout_s)
        tally = _Tally()
        for number in range(1, count + 1):
            try:
                text = worker.page(number, page_timeout_s)
            except PageFailed as exc:
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
    with borrowed_worker() as worker, _scratch_folder() as scratch:
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


def _with_ocr(
    worker: PdfWorker, scratch: Path, page: Page, budget: OcrBudget, tally: _Tally
) -> Page:
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
    except (PageFailed, OcrFailed) as exc:
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
