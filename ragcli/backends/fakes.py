"""Small deterministic backends for tests, chosen like the real ones: `fake:` specs."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ragcli.records import GenerationSettings, Prompt

if TYPE_CHECKING:
    from numpy.typing import NDArray

_TOKEN = re.compile(r"\w+|[^\w\s]")


class HashingEmbedder:
    """Bag-of-words vectors by feature hashing: similar wording, similar vectors.

    Spec `fake:DIM[:MAX_TOKENS[:DELAY_MS]]`; the delay per text imitates a real model's cost
    so that crash tests can interrupt embedding.
    """

    def __init__(
        self, spec: str, dimension: int = 64, max_text_tokens: int = 128, delay_ms: int = 0
    ) -> None:
        self.spec = spec
        self.dimension = dimension
        self.max_text_tokens = max_text_tokens
        self.delay_s = delay_ms / 1000

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(text)) for text in texts]

    def load(self) -> None:
        pass

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        time.sleep(self.delay_s * len(texts))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                vectors[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
            vectors[row, -1] += 1e-3  # keeps an empty text's vector normalisable
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


class ExtractiveLLM:
    """Answers with the first sentence of the first numbered context passage."""

    has_chat_template = False

    def __init__(self, spec: str, context_tokens: int = 2048) -> None:
        self.spec = spec
        self.context_tokens = context_tokens

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text)) + 1

    def prepare_prefix(self, text: str) -> None:
        pass

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        text = prompt.text or "\n".join(content for _, content in prompt.messages)
        passages = re.findall(r"^\[1\][^\n]*\n(.+?)$", text, flags=re.MULTILINE)
        source = passages[-1] if passages else "The context does not say."
        sentence = re.split(r"(?<=[.!?])\s", source.strip(), maxsplit=1)[0]
        for word in sentence.split(" ")[: settings.max_tokens]:
            yield word + " "


class LoopingLLM(ExtractiveLLM):
    """Falls into a repetition loop, as small models do: `fake:loop`."""

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        yield "1"
        for _ in range(settings.max_tokens - 1):
            yield "0"


class CrashingLLM(ExtractiveLLM):
    """Fails with an unexpected error, as a bug would: `fake:crash` (tests exit code 1)."""

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        raise RuntimeError("simulated bug in a backend")
        yield ""  # pragma: no cover - makes this a generator, like the real backends
