"""Where stores are: a path, or a named store in the data directory; one store or several.

A `--store` value (or one entry of RAG_STORE, or of the config file's `store`) is a *path*
when it contains a path separator or starts with `.` or `~` (`./work`, `.demo-store`,
`/srv/notes`, `~/papers`); any other value is a *name*: `--store work` is the store
`<data dir>/work`, and the default store is the one named `store`. A bare name never means a
folder of the current directory: when `./NAME` holds a store, the name is refused (exit 2)
rather than silently taken as either (write `./NAME` for that folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragcli.errors import UsageError

APP_NAME = "ragcli"
DEFAULT_STORE_NAME = "store"


def data_dir() -> Path:
    """The user data directory: the default store and every named store live in it."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME))


def model_cache_dir() -> Path:
    """Where the bundled GGUF is assembled once, and exported embedders are kept."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME)) / "models"


def is_store_name(text: str) -> bool:
    """Whether a --store value names a store in the data directory rather than a path."""
    separators = {os.sep, os.altsep or os.sep, "/"}
    return (
        bool(text)
        and not text.startswith((".", "~"))
        and not any(sep in text for sep in separators)
        and not Path(text).drive
    )


def store_list(raw: Any) -> list[str]:
    """The --store values in one raw setting: a list, or a string of several joined by ':'.

    RAG_STORE and a string in the config file hold a list as PATH does (`os.pathsep`);
    a flag is one value each time it is given.
    """
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("must be a store directory or name, or a non-empty list of them")
    values: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("must be a store directory or name, or a list of them")
        if "\0" in item:  # no path holds one: the OS would refuse it
            raise ValueError("must not contain a NUL character")
        values.extend(part for part in item.split(os.pathsep) if part.strip())
    if not values:
        raise ValueError("must be a non-empty store directory or name")
    return values


def store_paths(values: Iterable[str], relative_to: Path | None) -> tuple[Path, ...]:
    """Each value's store directory, in order, a store given twice kept once."""
    paths: dict[Path, Path] = {}
    for value in values:
        path = store_path(value, relative_to)
        paths.setdefault(Path(os.path.abspath(path)), path)
    return tuple(paths.values())


def store_path(value: str, relative_to: Path | None) -> Path:
    """The directory a --store value means (a relative path in a file: from the file)."""
    if is_store_name(value):
        return named_store(value, relative_to or Path.cwd())
    path = Path(value).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if path.exists() and not path.is_dir():
        raise UsageError(f"store {value} is a file, not a store directory")
    return path


def named_store(name: str, here: Path) -> Path:
    """The named store's directory; UsageError when ./NAME is a store (which one was meant?)."""
    from ragcli.store.layout import DATABASE_NAME

    named = data_dir() / name
    folder = here / name
    if (folder / DATABASE_NAME).is_file() and folder.resolve() != named.resolve():
        raise UsageError(
            f"store {name!r} names the store {named}, but {folder} is a store too",
            f"write ./{name} for the folder here, or the full path of the named one",
        )
    return named


def store_labels(paths: Iterable[Path]) -> list[str]:
    """What output calls each store: its directory's name, the path where names collide."""
    named = [(Path(os.path.abspath(path)).name or str(path), path) for path in paths]
    names = [name for name, _ in named]
    return [name if names.count(name) == 1 else str(path) for name, path in named]


def named_stores() -> list[Path]:
    """The stores in the data directory (named stores and the default one), by name."""
    from ragcli.store.layout import DATABASE_NAME

    root = data_dir()
    if not root.is_dir():
        return []
    return sorted(
        (entry for entry in root.iterdir() if (entry / DATABASE_NAME).is_file()),
        key=lambda entry: entry.name,
    )


def chat_history_path() -> Path:
    """The file `rag chat` keeps typed lines in across sessions (a dot name: never a store)."""
    return data_dir() / ".chat_history"
