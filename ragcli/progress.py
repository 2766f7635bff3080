"""How steps report progress without printing: the CLI passes an implementation."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of long work; the CLI renders it on stderr."""

    def start(self, label: str, total: int) -> None:
        """A phase of `total` units begins."""
        ...

    def advance(self, units: int) -> None:
        """Some units of the current phase are done."""
        ...

    def note(self, message: str) -> None:
        """Something the user should know that is not a result (a skipped file, say)."""
        ...


class SilentProgress:
    """Discards progress."""

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, units: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass
