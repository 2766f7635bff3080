"""`packed`: every passage numbered in one prompt, the answer streamed as it is generated."""

from __future__ import annotations

from collections.abc import Sequence

from ragcli.answering.base import (
    AnswerSettings,
    OnText,
    check_room,
    finish,
    prompt_tokens,
    question_too_long,
)
from ragcli.answering.prompts import (
    DEFAULT_TEMPLATE,
    DEGENERATE,
    PromptParts,
    PromptTemplate,
    build_prompt,
    completion_prefix,
)
from ragcli.llm.base import LLM
from ragcli.llm.repetition import find_loop
from ragcli.records import Answer, Hit, Prompt


class PackedStrategy:
    """All passages in one prompt: one generation, streamed."""

    name = "packed"

    def __init__(
        self, llm: LLM, settings: AnswerSettings, template: PromptTemplate = DEFAULT_TEMPLATE
    ) -> None:
        self.llm = llm
        self.settings = settings
        self.template = template

    def prepare(self) -> None:
        """Check the prompt fits the context; have the model ready for its fixed start."""
        bare = build_prompt(
            "",
            (),
            self.llm.count_tokens,
            self.llm.context_tokens,
            self.llm.has_chat_template,
            self.template,
        ).prompt
        fixed = prompt_tokens(self.llm, bare)
        check_room(
            fixed, self.llm.context_tokens, self.settings, self.settings.generation.max_tokens
        )
        if not self.llm.has_chat_template:
            self.llm.prepare_prefix(completion_prefix(self.template))

    def prompt(self, question: str, hits: Sequence[Hit]) -> PromptParts:
        """Pack the hits into numbered passages that fit the model's window, then the prompt."""
        budget = (
            self.llm.context_tokens
            - self.settings.generation.max_tokens
            - self.settings.margin_tokens
        )
        return build_prompt(
            question, hits, self.llm.count_tokens, budget, self.llm.has_chat_template, self.template
        )

    def answer(self, question: str, hits: Sequence[Hit], on_text: OnText | None) -> Answer:
        parts = self.prompt(question, hits)
        if hits and not parts.passages:
            # Never ask the model with no context: it would answer from nothing.
            raise question_too_long(
                self.llm.count_tokens(parts.prompt.text or question), self.llm.context_tokens
            )
        text = self._stream(parts.prompt, on_text)
        return finish(question, text, parts.passages, self.settings, self.name)

    def _stream(self, prompt: Prompt, on_text: OnText | None) -> str | None:
        """Generate, passing text on as it comes; stop at a loop, keeping what came before."""
        pieces: list[str] = []
        for piece in self.llm.stream(prompt, self.settings.generation):
            if not pieces:
                piece = piece.lstrip()
            pieces.append(piece)
            if on_text is not None and piece:
                on_text(piece)
            loop = find_loop("".join(pieces))
            if loop is not None:
                if loop.usable:
                    return loop.kept
                if on_text is not None:
                    on_text(f"\n{DEGENERATE}")
                return None
        return "".join(pieces).strip()
