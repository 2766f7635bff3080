"""What every LLM offers: the `LLM` Protocol, the options that pick one, and a fallback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ragcli.records import Completion, CopyFrom, GenerationSettings, Prompt


class LLM(Protocol):
    """A local language model that streams text."""

    spec: str
    context_tokens: int
    has_chat_template: bool

    def count_tokens(self, text: str) -> int:
        """Return how many of the model's own tokens the text takes."""
        ...

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        """Yield the answer's text piece by piece as it is generated."""
        ...

    def prepare_prefix(self, text: str) -> None:
        """Get ready for prompts that start with text (a backend may do nothing)."""
        ...

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        """Generate a whole answer with the log-probability the model gave its tokens."""
        ...

    def score(self, prompt: Prompt, continuation: str) -> float | None:
        """Return log p(continuation | prompt), or None when the backend cannot tell."""
        ...

    def copy(
        self, prompt: Prompt, source: CopyFrom, settings: GenerationSettings
    ) -> Completion | None:
        """The most likely answer that copies source's texts; None if the backend cannot."""
        ...


@dataclass(frozen=True)
class LlmOptions:
    """How to run a local model, or which OpenAI-compatible server to use instead."""

    context_tokens: int
    threads: int | None
    server_url: str | None
    server_model: str | None
    server_api: str
    api_key: str | None


def complete_by_streaming(llm: LLM, prompt: Prompt, settings: GenerationSettings) -> Completion:
    """A completion with no log-probability, for backends that only stream text."""
    from ragcli.llm.repetition import find_loop

    pieces: list[str] = []
    for piece in llm.stream(prompt, settings):
        pieces.append(piece)
        loop = find_loop("".join(pieces))
        if loop is not None:
            return Completion(loop.kept if loop.usable else "", None, len(pieces), looped=True)
    return Completion("".join(pieces).strip(), None, len(pieces))
