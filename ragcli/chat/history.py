"""What was typed in `rag chat`, kept across sessions in a file only its owner can read.

readline, from the standard library, edits the line and recalls earlier ones: it imports
in about 1 ms, against 112 ms for prompt_toolkit (docs/chat.md). Each line typed is
appended to the file as it is entered, so two sessions at once both keep theirs, and the
file is cut to the newest HISTORY_LINES.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType

from ragcli.errors import RagWarning

# Questions are short; a thousand of them is a few hundred kilobytes at most.
HISTORY_LINES = 1000


class LineHistory:
    """The lines typed at the chat prompt, read back by readline's up arrow."""

    def __init__(self, path: Path, readline: ModuleType | None) -> None:
        self.path = path
        self._readline = readline
        self._saved = 0  # entries of readline's history already in the file

    def load(self) -> None:
        """Create the file if need be (mode 0600) and put its lines in readline's history.

        A file that cannot be made or read only costs the recall: said once, then ignored.
        """
        readline = self._readline
        if readline is None:
            return
        readline.set_history_length(HISTORY_LINES)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
            try:
                os.fchmod(handle, 0o600)  # questions can be private: the owner's alone
            finally:
                os.close(handle)
            readline.read_history_file(str(self.path))
        except OSError as exc:
            self._give_up(exc)
            return
        self._saved = readline.get_current_history_length()

    def save_new(self) -> None:
        """Append the lines entered since the last save, and cut the file to its bound."""
        readline = self._readline
        if readline is None:
            return
        entered = readline.get_current_history_length() - self._saved
        if entered <= 0:
            return
        try:
            readline.append_history_file(entered, str(self.path))
        except OSError as exc:
            self._give_up(exc)
            return
        self._saved = readline.get_current_history_length()

    def _give_up(self, exc: OSError) -> None:
        reason = exc.strerror or type(exc).__name__
        warnings.warn(
            RagWarning(f"cannot keep the chat history in {self.path} ({reason}); going on without"),
            stacklevel=2,
        )
        self._readline = None
