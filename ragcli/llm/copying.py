"""Which texts are copies of a prompt's sources, for decoding that may only copy.

A small model asked for "the shortest phrase from the passage" often writes something that
is not in it: a number from one sentence with the unit of another ("63.2 billion"), or a
run of digits. Decoding under a copy constraint takes, at each step, the model's most
likely token that keeps the answer a copy, so the answer is always the passage's own words
and its log-probability is still the model's.
"""

from __future__ import annotations

import re

from ragcli.records import CopyFrom

_SPACES = re.compile(r"\s+")
# Punctuation a copied answer may end with that its source does not have there.
_TRAILING = " .,;:!?"


def _normal(text: str) -> str:
    return _SPACES.sub(" ", text).lower()


class CopyConstraint:
    """Tells whether a partial or finished answer is a copy of the sources."""

    def __init__(self, copy: CopyFrom) -> None:
        self._sources = [_normal(source).strip() for source in copy.sources]
        self._replies = [_normal(reply).strip() for reply in copy.replies]

    def may_continue(self, text: str) -> bool:
        """Whether text (the answer so far) can still grow into a copy."""
        answer = _normal(text).lstrip()
        if not answer:
            return True
        if any(reply.startswith(answer) for reply in self._replies):
            return True
        if any(self._starts(source, answer) for source in self._sources):
            return True
        # "330 metres." where the passage goes on "330 metres tall": the answer ends here.
        return self.may_end(text)

    def may_end(self, text: str) -> bool:
        """Whether text is a finished copy: whole words of a source, or a whole reply."""
        answer = _normal(text).strip()
        if not answer:
            return True  # an empty answer is an abstention, judged as one
        core = answer.rstrip(_TRAILING)
        if any(reply.rstrip(_TRAILING) == core for reply in self._replies):
            return True
        if not core:
            return False
        return any(self._starts(source, core, whole=True) for source in self._sources)

    @staticmethod
    def _starts(source: str, answer: str, whole: bool = False) -> bool:
        """Whether answer stands in source from a word's start (to a word's end if whole)."""
        at = source.find(answer)
        while at >= 0:
            end = at + len(answer)
            starts = at == 0 or not source[at - 1].isalnum() or not answer[0].isalnum()
            ends = (
                not whole
                or end == len(source)
                or not source[end].isalnum()
                or not answer[-1].isalnum()
            )
            if starts and ends:
                return True
            at = source.find(answer, at + 1)
        return False
