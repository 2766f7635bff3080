"""The config file: TOML with flat keys, read and checked once per command.

By default the file is `config.toml` in the user config directory (platformdirs), or the
file named by --config / RAG_CONFIG. The environment is passed in, never read here, so every
source is explicit and testable. settings.py declares the keys and layers the sources.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ragcli.errors import InputNotFoundError, UsageError
from ragcli.settings import KEYS, ConfigFile, checked

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser, before it joined the standard library
    import tomli as tomllib

CONFIG_ENV = "RAG_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024
FILE_KEYS = tuple(name for name, key in KEYS.items() if key.in_file)


def default_config_path() -> Path:
    """Where the config file lives when neither --config nor RAG_CONFIG names one."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("ragcli")) / "config.toml"


def load_config(explicit: Path | None, env: Mapping[str, str]) -> ConfigFile:
    """Read the config file (missing is fine unless it was named) and check every key."""
    named = explicit or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    path = (named or default_config_path()).expanduser()
    if not path.is_file():
        if named is not None and path.exists():
            raise UsageError(f"config file {path} is not a regular file")
        if named is not None:
            raise InputNotFoundError(f"config file {path} does not exist")
        return ConfigFile(path, {}, exists=False)
    document = _read_toml(path)
    values: dict[str, Any] = {}
    for name, raw in document.items():
        if name not in FILE_KEYS:
            raise UsageError(
                f"config {path}: unknown key {name!r}", f"known keys: {', '.join(FILE_KEYS)}"
            )
        values[name] = checked(KEYS[name], raw, f"config {path}: key {name!r}", path.parent)
    return ConfigFile(path, values, exists=True)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise UsageError(
                f"config {path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; "
                "a config file holds a few keys"
            )
        return tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"config {path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config {path}: not valid TOML: {exc}") from exc
    except RecursionError:  # arrays or tables nested thousands deep
        raise UsageError(f"config {path}: nested too deeply to be a config file") from None
