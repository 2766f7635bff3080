"""Text of PDF files, page by page, with pypdf; a page that hangs or fails is skipped."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.streams import describe_error

if TYPE_CHECKING:
    from types import FrameType

    from pypdf import PdfReader

T = TypeVar("T")


class _Alarm(BaseException):
    """Raised by SIGALRM; a BaseException so pypdf's broad `except Exception` cannot eat it."""


def pdf_pages(stream: BinaryIO, page_timeout_s: float) -> Iterator[Page]:
    """Yield the text of each PDF page that has some; raises LoadError when none can."""
    reader = _open(stream)
    count = _page_count(reader)
    failed = with_text = 0
    for number in range(1, count + 1):
        try:
            text = run_with_timeout(partial(_page_text, reader, number), page_timeout_s)
        except Exception:  # pypdf raises many types on damaged pages; skip just this one
            failed += 1
            continue
        if text.strip():
            with_text += 1
            yield Page(number, text)
    if failed == count:
        raise LoadError("no page could be read")
    if not with_text:
        raise LoadError("no text layer (scanned PDF?): needs OCR")


def _open(stream: BinaryIO) -> PdfReader:
    from pypdf import PdfReader

    try:
        reader = PdfReader(stream)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF that needs a password")
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise LoadError(f"not a readable PDF ({describe_error(exc)})") from exc
    return reader


def _page_count(reader: PdfReader) -> int:
    try:
        count = len(reader.pages)
    except Exception as exc:  # a broken page tree fails only when it is walked
        raise LoadError(f"not a readable PDF ({describe_error(exc)})") from exc
    if not count:
        raise LoadError("PDF has no pages")
    return count


def _page_text(reader: PdfReader, number: int) -> str:
    return reader.pages[number - 1].extract_text() or ""


def run_with_timeout(work: Callable[[], T], timeout_s: float) -> T:
    """Return work(); raise TimeoutError if it runs past timeout_s (main thread only)."""
    in_main = threading.current_thread() is threading.main_thread()
    if timeout_s <= 0 or not in_main or not hasattr(signal, "setitimer"):
        # Signals reach only the main thread; elsewhere the work runs unbounded.
        return work()
    previous = signal.signal(signal.SIGALRM, _raise_alarm)
    started = time.monotonic()
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        try:
            return work()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Alarm:
        raise TimeoutError(f"took longer than {timeout_s:g} s") from None
    finally:
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if outer_delay:
            left_s = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left_s, outer_interval)


def _raise_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm
