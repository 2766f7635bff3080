"""Ways of turning retrieved passages into a short, grounded answer, chosen by name.

`packed` gives the model all passages in one prompt and streams its answer; `sequence`
gives it one passage at a time and marginalises over them (RAG-Sequence). Both end in the
same grounding step: the exact span in a passage, the sentence around it, and a verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragcli.answering.base import ANSWER_STRATEGIES, AnswerSettings, Strategy
from ragcli.errors import UsageError

if TYPE_CHECKING:
    from ragcli.llm.base import LLM

__all__ = ["ANSWER_STRATEGIES", "AnswerSettings", "Strategy", "make_strategy"]


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
