"""The terminal: results on stdout, notes and errors on stderr, unsafe characters escaped."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from ragcli.errors import OutputWriteError, RagWarning

stderr = Console(stderr=True, highlight=False)


# Characters a terminal may act on rather than show: C0 controls but tab and newline, DEL,
# C1 controls (U+009B is a CSI on some terminals), line/paragraph separators, bidirectional
# overrides that make text read other than it is stored, and lone surrogates (the bytes of
# a file name that is not UTF-8, which could not even be encoded to stdout).
_UNSAFE_BEYOND_C0 = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = "\x00-\x08\x0b-\x1f" + _UNSAFE_BEYOND_C0
_UNSAFE_TEXT = re.compile(f"[{_UNSAFE}]")
_UNSAFE_JSON = re.compile(f"[{_UNSAFE_BEYOND_C0}]")  # json.dumps escapes C0 itself
_UNSAFE_NAME = re.compile(f'[{_UNSAFE}\t\n"\\\\]')


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    named = {"\t": "\\t", "\n": "\\n", '"': '\\"', "\\": "\\\\"}.get(char)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """The text with every character a terminal could act on written as an escape."""
    return _UNSAFE_TEXT.sub(_escaped, text)


def display_path(path: str) -> str:
    """A path relative to the working directory when it lies below it, safe to print.

    A name holding control characters, a newline or bytes that are not UTF-8 is shown in
    double quotes with escapes, so it can neither forge output lines nor drive the terminal.
    """
    try:
        shown = str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        shown = path
    if _UNSAFE_TEXT.search(shown) or "\n" in shown or "\t" in shown:
        return '"' + _UNSAFE_NAME.sub(_escaped, shown) + '"'
    return shown


def error(message: str) -> None:
    """Print one error line on stderr."""
    _say(f"rag: error: {message}")


def note(message: str) -> None:
    """Print one informational line on stderr."""
    _say(f"rag: {message}")


def _say(line: str) -> None:
    one_line = safe_text(line).replace("\n", "\\n").replace("\t", " ")
    stderr.print(one_line, markup=False, highlight=False, emoji=False, soft_wrap=True)


# Whether other libraries' warnings are said (-v); by default they are dropped.
_library_warnings = False


def show_details(shown: bool = True) -> None:
    """Say other libraries' warnings too (-v), as one-line notes."""
    global _library_warnings
    _library_warnings = shown


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Say a Python warning as one line (for `warnings.showwarning`), never the raw form.

    ragcli's own warnings (RagWarning) are always said; those of the libraries it uses
    (Pillow, numpy, ...) only under -v, with where they were raised.
    """
    text = " ".join(str(message).split())
    if issubclass(category, RagWarning):
        _say(f"rag: warning: {text}")
    elif _library_warnings:
        _say(f"rag: {category.__name__} from {Path(filename).name}:{lineno}: {text}")


class OutputClosed(Exception):  # noqa: N818 - a state, not a failure
    """Whoever read stdout has gone (`| head`): stop quietly.

    Not an OSError on purpose: Typer turns a broken pipe into a silent exit code 1.
    """


def write(text: str, stream: TextIO | None = None) -> None:
    """Write result text to stdout and flush, so pipes see it at once.

    OutputClosed when the reader has gone; OutputWriteError when stdout cannot take the
    text (a full device: `> /dev/full`, an I/O error) or is closed (`>&-`).
    """
    target = stream or sys.stdout
    if target is None:
        raise OutputWriteError("cannot write the results: stdout is closed")
    try:
        target.write(safe_text(text))
        target.flush()
    except BrokenPipeError:
        raise OutputClosed from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputWriteError(f"cannot write the results to stdout: {reason}") from None


def print_json(document: Any) -> None:
    """Print one JSON document on one line of stdout."""
    # JSON escapes C0 controls itself; the rest of the unsafe characters (and lone
    # surrogates, which json.loads turns back into the same file name) become \\uXXXX.
    text = json.dumps(document, ensure_ascii=False)
    write(_UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def rounded(value: float | None) -> float | None:
    """Round a score to four places for JSON output; None stays None."""
    return None if value is None else round(value, 4)
