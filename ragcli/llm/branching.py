"""Which cache sequence holds which hypothesis of a search, so each token is evaluated once.

A beam search grows every hypothesis by one token a step. Evaluated one after another in one
cache, each hypothesis' suffix is evaluated again after its neighbour's. With one sequence
per hypothesis, a new hypothesis starts from its parent's cells (a copy of the cells'
sequence ids, not of their contents) and only its newest token is evaluated, all of them in
one batch. Kept apart from llama.cpp so that the bookkeeping is tested with a fake cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Sequence 0 holds the head; each hypothesis of a step and each of the step before it
# (their parents, until the new ones are made from them) holds one more.
HEAD_SEQUENCE = 0


def sequences_for(beams: int) -> int:
    """How many cache sequences a search keeping `beams` hypotheses needs."""
    return 1 + 2 * beams


@dataclass(frozen=True)
class BranchStep:
    """One hypothesis of a batch: the sequence that will hold it, and what to evaluate."""

    branch: tuple[int, ...]
    sequence: int
    parent: int  # the sequence whose cells it starts from
    tokens: tuple[int, ...]  # evaluated after the parent's, at positions start, start + 1, ...
    start: int


class BranchTable:
    """The sequences holding a head (sequence 0) and the hypotheses grown from it."""

    def __init__(self, head: Sequence[int], sequences: int) -> None:
        self.head = tuple(head)
        self.sequences = sequences
        self._held: dict[tuple[int, ...], int] = {(): HEAD_SEQUENCE}

    def capacity(self) -> int:
        """How many hypotheses one batch may hold while their parents are still held."""
        return self.sequences - len(self._held)

    def plan(self, branches: Sequence[tuple[int, ...]]) -> list[BranchStep]:
        """Where each new hypothesis goes and which of its tokens are evaluated.

        Each starts from the longest of its own prefixes already held (at worst the head),
        so a hypothesis one token longer than its parent costs one token.
        """
        if len(branches) > self.capacity() or not all(branches):
            raise ValueError("more hypotheses than free sequences, or an empty one")
        used = set(self._held.values())
        free = [s for s in range(self.sequences) if s not in used]
        steps = []
        for branch, sequence in zip(branches, free, strict=False):
            known = next(k for k in range(len(branch) - 1, -1, -1) if branch[:k] in self._held)
            steps.append(
                BranchStep(
                    branch,
                    sequence,
                    self._held[branch[:known]],
                    branch[known:],
                    len(self.head) + known,
                )
            )
        return steps

    def commit(self, steps: Sequence[BranchStep]) -> list[int]:
        """Hold the planned hypotheses instead of the earlier ones; return the sequences freed."""
        freed = [s for s in self._held.values() if s != HEAD_SEQUENCE]
        self._held = {(): HEAD_SEQUENCE, **{step.branch: step.sequence for step in steps}}
        return freed

    def held(self) -> list[int]:
        """The sequences holding hypotheses (not the head)."""
        return [s for s in self._held.values() if s != HEAD_SEQUENCE]
