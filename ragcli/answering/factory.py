"""Pick an answering strategy by name: `sequence` or `packed` (the `strategy` setting).

Light to import: the settings read the names from here without loading a strategy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragcli.errors import UsageError

if TYPE_CHECKING:
    from ragcli.answering.base import AnswerSettings, Strategy
    from ragcli.llm.base import LLM

# One passage a prompt, marginalised (RAG-Sequence), or all passages in one prompt.
ANSWER_STRATEGIES = ("sequence", "packed")


def make_strategy(name: str, llm: LLM, settings: AnswerSettings) -> Strategy:
    """Build the answering strategy a name picks."""
    if name == "packed":
        from ragcli.answering.packed import PackedStrategy

        return PackedStrategy(llm, settings)
    if name == "sequence":
        from ragcli.answering.sequence import SequenceStrategy

        return SequenceStrategy(llm, settings)
    raise UsageError(
        f"unknown answering strategy {name!r}", f"use one of: {', '.join(ANSWER_STRATEGIES)}"
    )
