"""Small deterministic engines for tests, chosen like the real ones: `fake:` specs.

Importing this module registers them with the factories (`fake:DIM[:MAX_TOKENS[:DELAY_MS]]`
embedders, `fake:`, `fake:loop`, `fake:crash`, `fake:warn`, `fake:slow:MS`, `fake:wait:PATH` LLMs):
tests/conftest.py does, and names it in RAGCLI_TEST_PLUGINS for the `rag` processes tests
start (ragcli.plugins).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragcli.embedding import factory as embedding_factory
from ragcli.llm import factory as llm_factory
from ragcli.llm.base import LlmOptions, complete_by_streaming
from ragcli.plugins import PLUGINS_VARIABLE
from ragcli.records import Completion, CopyFrom, GenerationSettings, Prompt

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


# A test tags a passage `[p1]` and writes in the question `{p1=X@Y}`: the fake then answers X
# from that passage, with log-probability Y. The answer stays out of the passage's text.
_TAG = re.compile(r"\[(p\d+)\]")
_TABLE = re.compile(r"(p\d+)=([^@{}]+)@(-?[\d.]+)")
# Log-probabilities the fake gives a continuation it did not propose: found in the passage,
# or not.
FAKE_LOGP_IN_PASSAGE = -3.0
FAKE_LOGP_ABSENT = -30.0


class ExtractiveLLM:
    """Answers with the first sentence of the first numbered context passage.

    With one passage a prompt (`Passage (...): text`), it answers from that passage, with a
    known log-probability: -1, unless the passage is tagged and the question says otherwise.
    """

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

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        passage = _single_passage(prompt.text)
        if passage is None:
            text = "".join(self.stream(prompt, settings)).strip()
            return Completion(text, None, len(text.split()))
        planned = _planned(prompt.text, passage)
        if planned:
            answer, logprob = next(iter(planned.items()))
            return Completion(answer, logprob, 3)
        sentence = re.split(r"(?<=[.!?])\s", passage.strip(), maxsplit=1)[0]
        return Completion(sentence, -1.0, len(sentence.split()))

    def score(self, prompt: Prompt, continuation: str) -> float | None:
        passage = _single_passage(prompt.text)
        if passage is None:
            return None
        wanted = continuation.strip()
        planned = _planned(prompt.text, passage)
        if wanted in planned:
            return planned[wanted]
        return FAKE_LOGP_IN_PASSAGE if wanted and wanted in passage else FAKE_LOGP_ABSENT

    def copy(
        self, prompt: Prompt, source: CopyFrom, settings: GenerationSettings
    ) -> Completion | None:
        """The likeliest planned answer that is a copy of a source; None if none is.

        A fuller copying fake is made in the tests of the copy search (test_copying.py).
        """
        passage = _single_passage(prompt.text)
        if passage is None:
            return None
        sources = [text.lower() for text in source.sources]
        copies = {
            text: logprob
            for text, logprob in _planned(prompt.text, passage).items()
            if any(text.lower() in s for s in sources)
        }
        if not copies:
            return None
        text = max(copies, key=lambda t: copies[t])
        return Completion(text, copies[text], len(text.split()))


def _planned(prompt: str, passage: str) -> dict[str, float]:
    """The answer a test planned for this passage: {text: log-probability}, or nothing."""
    questions = re.findall(r"^Question: (.*)$", prompt, flags=re.MULTILINE)
    tags = set(_TAG.findall(passage))
    return (
        {
            m.group(2).strip(): float(m.group(3))
            for m in _TABLE.finditer(questions[-1])
            if m.group(1) in tags
        }
        if questions
        else {}
    )


def _single_passage(prompt: str) -> str | None:
    """The passage of a one-passage prompt (the last `Passage (...): ` block), if it is one."""
    found = re.findall(r"^Passage \([^)]*\): (.*)$", prompt, flags=re.MULTILINE)
    return found[-1] if found else None


class LoopingLLM(ExtractiveLLM):
    """Falls into a repetition loop, as small models do: `fake:loop`."""

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        yield "1"
        for _ in range(settings.max_tokens - 1):
            yield "0"

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        return complete_by_streaming(self, prompt, settings)


class CrashingLLM(ExtractiveLLM):
    """Fails with an unexpected error, as a bug would: `fake:crash` (tests exit code 1)."""

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        raise RuntimeError("simulated bug in a backend")
        yield ""  # pragma: no cover - makes this a generator, like the real backends

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        raise RuntimeError("simulated bug in a backend")


class WarningLLM(ExtractiveLLM):
    """Answers, after a numpy RuntimeWarning as a backend's arithmetic may raise: `fake:warn`."""

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        _numpy_warning()
        return super().complete(prompt, settings)

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        _numpy_warning()
        yield from super().stream(prompt, settings)


class SlowLLM(ExtractiveLLM):
    """Answers as `fake:` does, each generation MS milliseconds late: `fake:slow:MS`.

    A model busy long enough for a test to fill a server's queue or stop it mid-answer.
    """

    def __init__(self, spec: str, context_tokens: int = 2048, delay_ms: int = 1000) -> None:
        super().__init__(spec, context_tokens)
        self.delay_s = delay_ms / 1000

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        time.sleep(self.delay_s)
        return super().complete(prompt, settings)

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        time.sleep(self.delay_s)
        yield from super().stream(prompt, settings)


class WaitingLLM(ExtractiveLLM):
    """Writes the first word of its answer, then waits until a file exists: `fake:wait:PATH`.

    Lets a test see text arrive before the answer ends, and press Ctrl-C in the middle of
    one, without timing anything: the answer goes on once the test creates PATH.
    """

    def __init__(self, spec: str, context_tokens: int = 2048) -> None:
        super().__init__(spec, context_tokens)
        self.gate = Path(spec.split(":", 2)[2])

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        for number, piece in enumerate(super().stream(prompt, settings)):
            if number == 1:
                self._wait()
            yield piece

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        self._wait()
        return super().complete(prompt, settings)

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while not self.gate.exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def _numpy_warning() -> None:
    np.log(np.zeros(1))  # RuntimeWarning: divide by zero encountered in log


def hashing_embedder(spec: str) -> HashingEmbedder:
    """The embedder `fake:DIM[:MAX_TOKENS[:DELAY_MS]]` names."""
    rest = spec.partition(":")[2]
    return HashingEmbedder(spec, *[int(part) for part in rest.split(":") if part])


def fake_llm(spec: str, options: LlmOptions) -> ExtractiveLLM:
    """The LLM `fake:[loop|crash|warn|slow:MS|wait:PATH]` names; `fake:` alone: extractive."""
    kind, _, delay_ms = spec.partition(":")[2].partition(":")
    if kind == "slow":
        return SlowLLM(spec, options.context_tokens, int(delay_ms or 1000))
    kinds = {"loop": LoopingLLM, "crash": CrashingLLM, "warn": WarningLLM, "wait": WaitingLLM}
    return kinds.get(kind, ExtractiveLLM)(spec, options.context_tokens)


embedding_factory.register("fake", hashing_embedder)
llm_factory.register("fake", fake_llm)


def share_with_subprocesses() -> None:
    """Let every `rag` process started from now on build the fakes too (ragcli.plugins)."""
    root = str(Path(__file__).resolve().parent.parent)
    os.environ[PLUGINS_VARIABLE] = "tests.fakes"
    paths = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
