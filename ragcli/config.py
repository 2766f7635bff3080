"""Effective settings: command-line flag > RAG_* environment variable > config file > default.

The config file is TOML with flat keys, by default `config.toml` in the user config
directory (platformdirs), or the file named by --config / RAG_CONFIG. The environment is
passed in, never read here, so every source is explicit and testable.
"""

from __future__ import annotations

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
API_KEY_ENV = "RAG_LLM_API_KEY"


def _positive_int(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"must be a whole number >= {minimum}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"must be a whole number >= {minimum}") from None
        if number < minimum:
            raise ValueError(f"must be a whole number >= {minimum}")
        return number
    return check


def _temperature(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number >= 0")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number >= 0") from None
    if not number >= 0:
        raise ValueError("must be a number >= 0")
    return number


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


KEYS: dict[str, Key] = {key.name: key for key in (
    Key("store", "RAG_STORE", "--store", _text, path=True),
    Key("embedder", "RAG_EMBEDDER", "--embed-model", _text),
    Key("model", "RAG_MODEL", "--model", _text),
    Key("top_k", "RAG_TOP_K", "--top-k", _positive_int(1)),
    Key("threads", "RAG_THREADS", "--threads", _positive_int(1)),
    Key("context_tokens", "RAG_CONTEXT_TOKENS", "--context-tokens", _positive_int(256)),
    Key("temperature", "RAG_TEMPERATURE", "--temperature", _temperature),
    Key("mode", "RAG_MODE", "--mode", _mode),
    Key("strategy", "RAG_STRATEGY", "--strategy", _strategy),
    Key("llm_url", "RAG_LLM_URL", "--llm-url", _url),
    Key("llm_model", "RAG_LLM_MODEL", "--llm-model", _text),
)}


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
            return Setting(key, flag_value, f"flag {spec.flag}")
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
        if named is not None:
            raise InputNotFoundError(f"config file {path} does not exist")
        return Config(path, {}, env)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"config {path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config {path}: not valid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    for name, raw in document.items():
        spec = KEYS.get(name)
        if spec is None:
            raise UsageError(f"config {path}: unknown key {name!r}",
                             f"known keys: {', '.join(KEYS)}")
        values[name] = _checked(spec, raw, f"config {path}: key {name!r}", path.parent)
    return Config(path, values, env)


def _checked(spec: Key, raw: Any, where: str, relative_to: Path | None) -> Any:
    try:
        value = spec.check(raw)
    except ValueError as exc:
        raise UsageError(f"{where} {exc}, not {raw!r}") from None
    if spec.path:
        # A relative path in the file means relative to the file, not to where rag runs.
        path = Path(value).expanduser()
        value = path if relative_to is None or path.is_absolute() else relative_to / path
    return value
