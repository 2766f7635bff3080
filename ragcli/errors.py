"""Exceptions that carry the exit code and the one-line message a user sees."""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from enum import IntEnum

# A setting named in a message: `{setting:model}`, or `{setting*:model}` for every way to set
# it. The core names settings, never flags; where the message is shown they are spelled: as
# `model` by default (the library's own words), as `--model` by the CLI (cli.py).
_SETTING = re.compile(r"\{setting(\*?):([a-z_]+)\}")

# How a setting is spelled: its name, and whether every way to set it is meant.
Spelling = Callable[[str, bool], str]


def setting(name: str) -> str:
    """A setting named in an error's message or hint, spelled where it is shown."""
    return f"{{setting:{name}}}"


def every_spelling(name: str) -> str:
    """A setting named in a message with every way to set it (for the CLI: flag, variable, file)."""
    return f"{{setting*:{name}}}"


def by_name(name: str, every: bool) -> str:
    """Spell a setting by its name, as the library (and `str` of an error) does."""
    return name


def spell_settings(text: str, spelling: Spelling) -> str:
    """Return text with each setting it names spelled by `spelling`."""
    return _SETTING.sub(lambda found: spelling(found[2], bool(found[1])), text)


class ExitCode(IntEnum):
    """Documented process exit codes (docs/output.md, `rag --help`)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    NO_STORE = 3
    INPUT_NOT_FOUND = 4
    MODEL = 5
    FILES_SKIPPED = 6
    LOCKED = 7
    NOT_FOUND = 8
    STORE_CORRUPT = 9
    NOT_WRITABLE = 10
    SYSTEM_LIMIT = 11
    INTERRUPTED = 130


class RagError(Exception):
    """Base for every error the CLI turns into a message and an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.template = message  # settings unspelled: `{setting:model}`
        self.hint_template = hint

    @property
    def message(self) -> str:
        """What went wrong, settings by name."""
        return spell_settings(self.template, by_name)

    @property
    def hint(self) -> str:
        """What to do about it, settings by name ("" when there is nothing to say)."""
        return spell_settings(self.hint_template, by_name)

    def spelled(self, spelling: Spelling) -> str:
        """The one line a user sees, each setting spelled by `spelling` (the CLI's: a flag)."""
        message = spell_settings(self.template, spelling)
        hint = spell_settings(self.hint_template, spelling)
        return f"{message} ({hint})" if hint else message

    def __str__(self) -> str:
        return self.spelled(by_name)


class UsageError(RagError):
    """The user asked for something contradictory or malformed."""

    exit_code = ExitCode.USAGE


class ConfigMismatchError(UsageError):
    """A flag disagrees with what the store was built with."""


class StoreNotFoundError(RagError):
    """There is no store at the given location."""

    exit_code = ExitCode.NO_STORE

    @classmethod
    def at(cls, root: object) -> StoreNotFoundError:
        """The error for a store directory that does not exist."""
        return cls(f"no store at {root}", "run `rag ingest PATH` first or pass --store DIR")


class EmptyStoreError(RagError):
    """The store exists but holds nothing to search."""

    exit_code = ExitCode.NO_STORE

    @classmethod
    def at(cls, root: object) -> EmptyStoreError:
        """The error for a store that has never been ingested into."""
        return cls(f"store {root} is empty", "run `rag ingest PATH` first")


class InputNotFoundError(RagError):
    """A path given to ingest does not exist or cannot be read."""

    exit_code = ExitCode.INPUT_NOT_FOUND


class ModelError(RagError):
    """A model file or backend is missing, corrupt or failed."""

    exit_code = ExitCode.MODEL


class StoreCorruptError(RagError):
    """The store's files cannot be read or come from an incompatible version."""

    exit_code = ExitCode.STORE_CORRUPT


class IndexMismatchError(StoreCorruptError):
    """The vector index file is not the one the database recorded: foreign, stale or damaged."""


class ManifestDamagedError(StoreCorruptError):
    """The manifest (how the store was built) has a value that is not JSON, or lacks one."""

    @classmethod
    def of(cls, root: object, problems: list[str]) -> ManifestDamagedError:
        """The error naming what is wrong with root's manifest."""
        return cls(
            f"the manifest of store {root} is damaged: {'; '.join(problems)}",
            "run `rag doctor` (with the same --store) to rebuild what it can",
        )


class WalDeletedError(StoreCorruptError):
    """The store's write-ahead log was deleted while another process had the store open."""


class StoreLockedError(RagError):
    """Another process is writing the store and the user asked not to wait."""

    exit_code = ExitCode.LOCKED


class LoadError(RagError):
    """One file could not be turned into text; ingest reports it and goes on."""

    exit_code = ExitCode.FILES_SKIPPED


class StoreWriteError(RagError):
    """The store's files cannot be written: disk full, read-only, immutable or in the way."""

    exit_code = ExitCode.NOT_WRITABLE


class OutputWriteError(RagError):
    """Standard output cannot take the results: a full device, an I/O error, closed."""

    exit_code = ExitCode.NOT_WRITABLE


class RagWarning(UserWarning):
    """Something the user should know that stops nothing: the CLI says it in one line."""


class SystemLimitError(RagError):
    """The system refused a resource the command needs: too many open files."""

    exit_code = ExitCode.SYSTEM_LIMIT
    ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})

    @classmethod
    def caused(cls, exc: OSError) -> bool:
        """Whether an OSError means the process (or the system) has no file descriptor left."""
        return exc.errno in cls.ERRNOS

    @classmethod
    def open_files(cls, what: object, after: str = "") -> SystemLimitError:
        """The error for something that could not be opened for want of descriptors."""
        return cls(
            f"cannot open {what}: too many open files",
            "raise the limit on open files (`ulimit -n`, RLIMIT_NOFILE) or close some "
            f"programs, then run the command again{after}",
        )
