"""Text from page images: Tesseract, run as a subprocess with a deadline.

Pages are turned into images by the reader process (ragcli.text.pdf_worker: pypdfium2 for
PDF pages, Pillow for image files), so rendering is bounded like text extraction; this
module only decides when OCR is wanted, checks it can run, and runs Tesseract.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ragcli.errors import LoadError

# A PDF page whose text layer has fewer non-space characters than this is read by OCR too
# (a scan often carries a stamp such as "Scanned by CamScanner" or a page number, 19
# characters and fewer); the OCR text is kept when it holds more than the layer.
NEARLY_EMPTY_CHARS = 32
# PDF pages are rendered at this resolution, Tesseract's sweet spot for body text ...
RENDER_DPI = 300
# ... unless that makes more pixels than this (A3 at 300 dpi is 17.4 million): larger
# pages, and larger images, are scaled down to it, which bounds the reader's and
# Tesseract's memory and time (a 1:1 render of an A0 poster would be 139 million).
MAX_PAGE_PIXELS = 25_000_000
# Debian's packages: the engine and the language data of the default languages.
TESSERACT_PACKAGES = "tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa"
_LANGUAGE_LIST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class OcrOptions:
    """How pages without text are read: Tesseract's languages (`eng+spa`) and its bounds."""

    languages: str
    # Pages read by OCR in one file, and their seconds together; past either, a LoadError
    # (the settings ocr_max_pages and ocr_max_seconds).
    max_pages: int
    file_timeout_s: float
    # Rendering the page and recognising its text, together; a page past it is skipped.
    page_timeout_s: float = 60.0


@dataclass
class OcrBudget:
    """What one file's OCR has used of its bounds: pages begun and seconds spent."""

    options: OcrOptions
    pages: int = 0
    spent_s: float = 0.0

    def begin_page(self) -> float:
        """Count one more page; return the seconds it may take. LoadError past a bound."""
        if self.pages >= self.options.max_pages:
            raise LoadError(
                f"more than {self.options.max_pages:,} pages need OCR, the most it reads "
                "in one file (ocr_max_pages)"
            )
        if self.spent_s >= self.options.file_timeout_s:
            raise self.out_of_time()
        self.pages += 1
        return min(self.options.page_timeout_s, self.options.file_timeout_s - self.spent_s)

    def end_page(self, elapsed_s: float, failed: bool) -> None:
        """Add a page's seconds; LoadError if it failed because the file's time ran out."""
        self.spent_s += elapsed_s
        if failed and self.spent_s >= self.options.file_timeout_s:
            raise self.out_of_time()

    def out_of_time(self) -> LoadError:
        return LoadError(
            f"OCR took longer than {self.options.file_timeout_s:g} s, the most it may take "
            "for one file (ocr_max_seconds)"
        )


def check_frame_count(count: int, options: OcrOptions) -> None:
    """LoadError, before any is read, if an image has more frames than OCR reads in a file."""
    if count > options.max_pages:
        raise LoadError(
            f"{count:,} frames need OCR, more than the {options.max_pages:,} it reads in "
            "one file (ocr_max_pages)"
        )


class OcrFailed(Exception):
    """One page could not be read by OCR; the reason is the message."""


def nearly_empty(text: str) -> bool:
    """Whether a page's text layer is too thin to stand for the page (see NEARLY_EMPTY_CHARS)."""
    return visible_chars(text) < NEARLY_EMPTY_CHARS


def visible_chars(text: str) -> int:
    """The number of characters in text that are not white space."""
    return len(text) - sum(map(len, re.findall(r"\s+", text)))


def missing_engine(options: OcrOptions, render_pdf: bool) -> str | None:
    """Why OCR cannot run here, naming what to install; None when it can."""
    command = shutil.which("tesseract")
    if command is None:
        return f"tesseract is not installed (apt install {TESSERACT_PACKAGES})"
    for module, package in (("PIL", "pillow"), ("pypdfium2", "pypdfium2")):
        if (render_pdf or module == "PIL") and importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install 'ragcli[ocr]')"
    installed = _installed_languages(command)
    if installed is None:
        return "tesseract --list-langs failed (reinstall tesseract-ocr)"
    for language in options.languages.split("+"):
        if language not in installed:
            package = "tesseract-ocr-" + language.lower().replace("_", "-")
            return f"tesseract has no {language!r} language data (apt install {package})"
    return None


@functools.lru_cache(maxsize=4)
def _installed_languages(command: str) -> frozenset[str] | None:
    try:
        listed = subprocess.run(
            [command, "--list-langs"],
            capture_output=True,
            text=True,
            timeout=_LANGUAGE_LIST_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    # The first line says where the data lives; each later one names a language.
    return frozenset(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip())


def recognize(image: Path, options: OcrOptions, timeout_s: float, dpi: int | None) -> str:
    """Return the text Tesseract reads in an image; OcrFailed if it fails or runs too long."""
    command = ["tesseract", str(image), "stdout", "-l", options.languages]
    if dpi is not None:
        command += ["--dpi", str(dpi)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=max(timeout_s, 0.1),
            stdin=subprocess.DEVNULL,
            # One thread: Tesseract's OpenMP threads slow it down on a busy machine (its
            # own documentation says so), and ingest embeds on the other cores.
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
    except subprocess.TimeoutExpired:
        raise OcrFailed(f"OCR took longer than {options.page_timeout_s:g} s") from None
    except OSError as exc:
        raise OcrFailed(f"cannot run tesseract ({exc.strerror})") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = lines[-1][:120] if lines else f"exit {done.returncode}"
        raise OcrFailed(f"tesseract failed ({detail})")
    return _tidy(done.stdout.decode("utf-8", "replace"))


def _tidy(text: str) -> str:
    """Drop Tesseract's form feed and trailing spaces, and runs of blank lines."""
    lines = [line.rstrip() for line in text.replace("\f", "\n").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
