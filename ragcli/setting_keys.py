"""What a setting is: its `Key` (flag, variable, default, check, help), and the checks.

A raw value is a flag Typer has typed, a RAG_* variable's text or a config file's TOML
value; each check returns the setting's value or raises ValueError saying what it must be.
settings.py declares each setting with a `Key` naming one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ragcli.vectors.factory import VECTOR_FORMS, is_vectors_uri


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take, both ends included."""

    low: float
    high: float
    whole: bool = True

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} from {_number(self.low)} to {_number(self.high)}"

    def check(self, value: Any) -> int | float:
        """Return the value as a number within the range; ValueError naming the range."""
        number = self._number(value)
        if number is None or not (self.low <= number <= self.high):  # also false for NaN
            raise ValueError(f"must be {self.describe()}")
        return number

    def _number(self, value: Any) -> int | float | None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            return _whole(value) if self.whole else float(value)
        except (ValueError, OverflowError):
            return None


def _whole(value: int | float | str) -> int:
    if isinstance(value, float):  # 5.0 in a TOML file: a float where a count belongs
        raise ValueError(value)
    text = str(value).strip()
    if len(text) > 30:  # int() of a huge digit string costs time and says nothing useful
        raise ValueError(value)
    return int(text)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def text(value: Any) -> str:
    """A non-empty string: a path, a name or a URL."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if "\0" in value:  # no path, name or URL holds one; the OS would refuse it later
        raise ValueError("must not contain a NUL character")
    return value


def one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    """A check accepting exactly the given names."""

    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return check


def url(value: Any) -> str:
    """An http:// or https:// URL with a host."""
    checked = text(value)
    parsed = urlparse(checked)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return checked


def vectors(value: Any) -> str:
    """A URI that names a vector backend (its address is checked on first use)."""
    checked = text(value)
    if not is_vectors_uri(checked):
        raise ValueError(f"must be {VECTOR_FORMS}")
    return checked


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def switch(value: Any) -> bool:
    """A yes/no setting: a TOML boolean, or true/false, 1/0, yes/no, on/off in a variable."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("must be true or false")


def ocr_languages(value: Any) -> str:
    """Tesseract language names joined by +."""
    checked = text(value).strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\+[A-Za-z][A-Za-z0-9_]*)*", checked):
        raise ValueError("must be Tesseract language names joined by +, such as eng+spa")
    return checked


def ray_address(value: Any) -> str:
    """Where Ray runs: local, auto, or a cluster's address."""
    checked = text(value).strip()
    host, sep, port = checked.rpartition(":")
    if checked in ("local", "auto") or (sep and host and port.isdigit()):
        return checked
    raise ValueError("must be local, auto, ray://HOST:PORT or HOST:PORT")


@dataclass(frozen=True)
class Key:
    """One setting: its flag, variable, default, check and help, declared once."""

    flag: str  # "" for a secret, which only the environment holds; "search --top-k"
    env: str | None  # None: a flag only
    default: Any  # a value, or a function returning it (for paths found at run time)
    check: Callable[[Any], Any] = text
    range: Range | None = None
    choices: tuple[str, ...] = ()
    # Store locations: a list (flag given again, `:` in RAG_STORE or the file), each a path
    # or a name (locations.py); relative paths in the config file are relative to the file.
    path: bool = False
    in_file: bool = True  # may be set in the config file, and `rag config` shows it
    help: str = ""  # what --help says of it, before its [env ...; default ...]
    note: str = ""  # what --help says after that
    default_help: str = ""  # the default in words, where its value says too little
    short: str = ""  # a one-letter flag too: "-k"
    secret: str = ""  # the setting holding this one's key or token: "llm_api_key"
    name: str = ""  # the Settings field: filled in from there

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def checked(self, raw: Any) -> Any:
        """Return the value as the setting takes it; ValueError naming what it must be."""
        return self.range.check(raw) if self.range is not None else self.check(raw)


def ranged(flag: str, env: str | None, default: Any, low: float, high: float, **more: Any) -> Key:
    """A numeric setting taking the values from low to high (whole numbers unless whole=False)."""
    whole = more.pop("whole", True)
    return Key(flag, env, default, range=Range(low, high, whole), **more)


def choice(flag: str, env: str | None, default: str, choices: tuple[str, ...], **more: Any) -> Key:
    """A setting taking one of the names given."""
    return Key(flag, env, default, one_of(choices), choices=choices, **more)
