"""Effective settings: command-line flag > RAG_* environment variable > config file > default.

The config file is TOML with flat keys, by default `config.toml` in the user config
directory (platformdirs), or the file named by --config / RAG_CONFIG. The environment is
passed in, never read here, so every source is explicit and testable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ragcli.errors import InputNotFoundError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser, before it joined the standard library
    import tomli as tomllib

CONFIG_ENV = "RAG_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024
API_KEY_ENV = "RAG_LLM_API_KEY"


# Every number a user can set has a range, declared here once and checked for flags,
# RAG_* variables and the config file alike (README, "Options and their ranges").
MAX_THREADS = 4 * (os.cpu_count() or 1)


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
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"must be {self.describe()}")
        try:
            number: int | float = _whole(value) if self.whole else float(value)
        except (ValueError, OverflowError):
            raise ValueError(f"must be {self.describe()}") from None
        if not (self.low <= number <= self.high):  # also false for NaN
            raise ValueError(f"must be {self.describe()}")
        return number


def _whole(value: int | float | str) -> int:
    if isinstance(value, float):  # 5.0 in a TOML file: a float where a count belongs
        raise ValueError(value)
    text = str(value).strip()
    if len(text) > 30:  # int() of a huge digit string costs time and says nothing useful
        raise ValueError(value)
    return int(text)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


RANGES: dict[str, Range] = {
    "top_k": Range(1, 1000),
    "search_k": Range(1, 10_000),
    "threads": Range(1, MAX_THREADS),
    # At least what the fixed prompt and one passage need (checked again against the
    # model's own prompt when it loads), at most what any bundled-size model is trained on.
    "context_tokens": Range(512, 131_072),
    # At most the context window less the prompt: checked when the model loads.
    "max_tokens": Range(1, 131_072),
    "temperature": Range(0.0, 2.0, whole=False),
    "min_score": Range(-1.0, 1.0, whole=False),
    "batch_size": Range(1, 4096),
    "chunk_tokens": Range(16, 4096),
    "overlap_tokens": Range(0, 2048),
    "max_queries": Range(1, 1_000_000_000),
    "max_docs": Range(1, 1_000_000_000),
}


def check_number(name: str, flag: str, value: int | float | None) -> Any:
    """Check a flag-only number against its range; UsageError naming the flag."""
    if value is None:
        return None
    try:
        return RANGES[name].check(value)
    except ValueError as exc:
        raise UsageError(f"{flag} {exc}, not {_shown(value)}") from None


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _ranged(name: str) -> Callable[[Any], Any]:
    return RANGES[name].check


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def _mode(value: Any) -> str:
    from ragcli.settings import RETRIEVAL_MODES

    if value not in RETRIEVAL_MODES:
        raise ValueError(f"must be one of {', '.join(RETRIEVAL_MODES)}")
    return str(value)


def _strategy(value: Any) -> str:
    from ragcli.settings import ANSWER_STRATEGIES

    if value not in ANSWER_STRATEGIES:
        raise ValueError(f"must be one of {', '.join(ANSWER_STRATEGIES)}")
    return str(value)


def _url(value: Any) -> str:
    text = _text(value)
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return text


@dataclass(frozen=True)
class Key:
    """One configurable setting: its name in the file, its variable, its check, its flag."""

    name: str
    env: str
    flag: str
    check: Callable[[Any], Any]
    path: bool = False


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("store", "RAG_STORE", "--store", _text, path=True),
        Key("embedder", "RAG_EMBEDDER", "--embed-model", _text),
        Key("model", "RAG_MODEL", "--model", _text),
        Key("top_k", "RAG_TOP_K", "--top-k", _ranged("top_k")),
        Key("search_k", "RAG_SEARCH_K", "search --top-k", _ranged("search_k")),
        Key("threads", "RAG_THREADS", "--threads", _ranged("threads")),
        Key("context_tokens", "RAG_CONTEXT_TOKENS", "--context-tokens", _ranged("context_tokens")),
        Key("max_tokens", "RAG_MAX_TOKENS", "--max-tokens", _ranged("max_tokens")),
        Key("temperature", "RAG_TEMPERATURE", "--temperature", _ranged("temperature")),
        Key("min_score", "RAG_MIN_SCORE", "--min-score", _ranged("min_score")),
        Key("batch_size", "RAG_BATCH_SIZE", "--batch-size", _ranged("batch_size")),
        Key("mode", "RAG_MODE", "--mode", _mode),
        Key("strategy", "RAG_STRATEGY", "--strategy", _strategy),
        Key("llm_url", "RAG_LLM_URL", "--llm-url", _url),
        Key("llm_model", "RAG_LLM_MODEL", "--llm-model", _text),
    )
}


def spellings(key: str) -> str:
    """Every way a user may have set a key, for a message about its value."""
    spec = KEYS[key]
    return f"{spec.flag}, {spec.env} or config key {spec.name}"


@dataclass(frozen=True)
class Setting:
    """An effective value and where it came from."""

    key: str
    value: Any
    source: str  # "flag --top-k", "env RAG_TOP_K", "config /path/config.toml", "default"


class Config:
    """Values from the environment and the config file, ready to be layered under flags."""

    def __init__(self, path: Path, file_values: dict[str, Any], env: Mapping[str, str]) -> None:
        self.path = path
        self._file = file_values
        self._env = env

    def setting(self, key: str, flag_value: Any, default: Any) -> Setting:
        """Return the effective value of a key: flag, environment, file, then default."""
        spec = KEYS[key]
        if flag_value is not None:
            value = _checked(spec, flag_value, spec.flag, None) if key in RANGES else flag_value
            return Setting(key, value, f"flag {spec.flag}")
        raw = self._env.get(spec.env)
        if raw is not None and raw != "":
            return Setting(key, _checked(spec, raw, spec.env, None), f"env {spec.env}")
        if key in self._file:
            return Setting(key, self._file[key], f"config {self.path}")
        return Setting(key, default, "default")

    def value(self, key: str, flag_value: Any, default: Any) -> Any:
        """Return just the effective value of a key."""
        return self.setting(key, flag_value, default).value


def default_config_path() -> Path:
    """Where the config file lives when neither --config nor RAG_CONFIG names one."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("ragcli")) / "config.toml"


def load_config(explicit: Path | None, env: Mapping[str, str]) -> Config:
    """Read the config file (missing is fine unless it was named) and check every key."""
    named = explicit or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    path = (named or default_config_path()).expanduser()
    if not path.is_file():
        if named is not None and path.exists():
            raise UsageError(f"config file {path} is not a regular file")
        if named is not None:
            raise InputNotFoundError(f"config file {path} does not exist")
        return Config(path, {}, env)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise UsageError(
                f"config {path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; "
                "a config file holds a few keys"
            )
        document = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"config {path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config {path}: not valid TOML: {exc}") from exc
    except RecursionError:  # arrays or tables nested thousands deep
        raise UsageError(f"config {path}: nested too deeply to be a config file") from None
    values: dict[str, Any] = {}
    for name, raw in document.items():
        spec = KEYS.get(name)
        if spec is None:
            raise UsageError(
                f"config {path}: unknown key {name!r}", f"known keys: {', '.join(KEYS)}"
            )
        values[name] = _checked(spec, raw, f"config {path}: key {name!r}", path.parent)
    return Config(path, values, env)


def _checked(spec: Key, raw: Any, where: str, relative_to: Path | None) -> Any:
    try:
        value = spec.check(raw)
    except ValueError as exc:
        raise UsageError(f"{where} {exc}, not {_shown(raw)}") from None
    if spec.path:
        # A relative path in the file means relative to the file, not to where rag runs.
        path = Path(value).expanduser()
        value = path if relative_to is None or path.is_absolute() else relative_to / path
    return value
