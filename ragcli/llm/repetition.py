"""Spot a generation that has fallen into a loop, at any unit length, and keep what came before.

Small models fall into loops and never recover: digit runs ("1000000000..."), words, whole
phrases or list items ("- No es aditivo. - No es aditivo. ..."). A loop is a unit of 1 to
100 characters repeated at the end of the text: a short unit (up to 8 characters) 8 times and
16 characters at least, a longer one 3 times. White space is compared loosely, as models vary
line breaks and indentation between copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_UNIT_CHARS = 100
_SHORT_UNIT_CHARS = 8
_SHORT_REPEATS = 8
_SHORT_MIN_CHARS = 16
_LONG_REPEATS = 3
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Loop:
    """A repetition loop at the end of a text."""

    unit: str  # the repeated unit, white space collapsed
    kept: str  # the text before the loop and one copy of its unit, stripped

    @property
    def usable(self) -> bool:
        """Whether the text before the loop can stand as an answer.

        Not after a short run of letters or digits ("1000000...", "hahaha..."): what came
        before is part of the run. After a phrase loop, the first copy is kept.
        """
        if len(self.unit.strip()) <= _SHORT_UNIT_CHARS and any(c.isalnum() for c in self.unit):
            return False
        return any(char.isalnum() for char in self.kept)


def find_loop(text: str) -> Loop | None:
    """Return the loop the text ends in, or None when it does not end in one."""
    flat = _SPACES.sub(" ", text)
    tail = flat[-(MAX_UNIT_CHARS * _LONG_REPEATS + _SHORT_REPEATS) :]
    for length in range(1, MAX_UNIT_CHARS + 1):
        repeats = _repeats_needed(length)
        if len(tail) < length * repeats:
            break
        unit = tail[-length:]
        if not unit.strip() or tail[-length * repeats :] != unit * repeats:
            continue
        return Loop(unit, _kept_before_loop(flat, length))
    return None


def _repeats_needed(length: int) -> int:
    if length <= _SHORT_UNIT_CHARS:
        return max(_SHORT_REPEATS, -(-_SHORT_MIN_CHARS // length))
    return _LONG_REPEATS


def _kept_before_loop(flat: str, length: int) -> str:
    """Cut the text after the first copy of the repeated unit."""
    start = len(flat) - length
    while start > 0 and flat[start - 1] == flat[start - 1 + length]:
        start -= 1
    return flat[: start + length].strip()
