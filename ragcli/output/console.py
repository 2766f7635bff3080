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
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def display_name(name: str) -> str:
    """A file, folder or store name as every text output prints it, safe to print.

    A name holding control characters, a newline, a tab or bytes that are not UTF-8 is
    shown in double quotes with escapes, so it can neither forge output lines (a row of
    `rag stores`, a `path:line:` of `rag search`) nor drive the terminal.
    """
    if _UNSAFE_TEXT.search(name) or "\n" in name or "\t" in name:
        return '"' + _UNSAFE_NAME.sub(_escaped, name) + '"'
    return name


def display_path(path: str) -> str:
    """A path relative to the working directory when it lies below it, as display_name."""
    try:
        shown = str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        shown = path
    return display_name(shown)


def error(message: str) -> None:
    """Print one error line on stderr."""
    _say(f"rag: error: {message}")


def note(message: str) -> None:
    """Print one informational line on stderr."""
    _say(f"rag: {message}")


def one_line(message: str) -> str:
    """A message as one line, escaped as safe_text does: how every error is said."""
    return safe_text(message).replace("\n", "\\n").replace("\t", " ")


def _say(line: str) -> None:
    stderr.print(one_line(line), markup=False, highlight=False, emoji=False, soft_wrap=True)


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


def json_safe(document: Any) -> Any:
    """The document with each byte of a name that is not UTF-8 written as `\\xNN`.

    What `--json` prints and what `rag mcp` sends: JSON text is Unicode, and the lone
    surrogates os.fsdecode keeps such bytes in cannot be encoded (the MCP SDK fails on
    them) nor, as `\\udcXX`, parsed by strict parsers (pydantic's, so the MCP client's).
    """
    if isinstance(document, str):
        return _SURROGATE.sub(_escaped, document)
    if isinstance(document, dict):
        return {key: json_safe(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [json_safe(value) for value in document]
    return document


def print_json(document: Any) -> None:
    """Print one JSON document on one line of stdout."""
    # JSON escapes C0 controls itself; the rest of the unsafe characters become \\uXXXX.
    text = json.dumps(json_safe(document), ensure_ascii=False)
    write(_UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def rounded(value: float | None) -> float | None:
    """Round a score to four places for JSON output; None stays None."""
    return None if value is None else round(value, 4)
