"""`rag ask`: retrieve the best chunks for a question and have the LLM answer from them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ragcli.backends.embedders import Embedder
from ragcli.backends.llms import LLM, LlmOptions
from ragcli.backends.registry import make_llm
from ragcli.backends.vectors import FaissHnswIndex
from ragcli.errors import EmptyStoreError
from ragcli.records import Answer, GenerationSettings, Hit, Manifest
from ragcli.steps.opening import open_for_reading
from ragcli.store import Store
from ragcli.text.prompts import (
    DEFAULT_TEMPLATE,
    DEGENERATE,
    NOT_FOUND,
    PromptTemplate,
    build_prompt,
    is_degenerate,
)

# Tokens kept free between the prompt and the answer, for the model's own special tokens.
_PROMPT_MARGIN_TOKENS = 16


@dataclass(frozen=True)
class AskOptions:
    """How to answer questions."""

    store_dir: Path
    llm_spec: str
    llm: LlmOptions
    cache_dir: Path
    generation: GenerationSettings
    top_k: int = 5
    min_score: float = 0.2


@dataclass
class Timings:
    """Where the time of a session went, in seconds."""

    load_s: float = 0.0
    retrieve_s: float = 0.0
    generate_s: float = 0.0
    per_question: list[float] = field(default_factory=list)


class Asker:
    """Models loaded once, ready to answer any number of questions."""

    def __init__(self, options: AskOptions) -> None:
        started = time.perf_counter()
        self.options = options
        store, manifest, embedder = open_for_reading(options.store_dir, options.llm.threads)
        self._store: Store = store
        self._manifest: Manifest = manifest
        self._embedder: Embedder = embedder
        try:
            index = store.read_index(manifest.hnsw)
            if index is None or len(index) == 0:
                raise EmptyStoreError(
                    f"store {options.store_dir} has no indexed chunks",
                    "run `rag index` (or `rag ingest PATH`) first",
                )
            self._index: FaissHnswIndex = index
            # Chunks removed since the index was built: filtered inside every search.
            self._tombstones = np.setdiff1d(index.ids(), store.indexable_ids())
            self._llm: LLM = make_llm(options.llm_spec, options.llm, options.cache_dir)
            embedder.load()
        except BaseException:
            store.close()
            raise
        self.timings = Timings(load_s=time.perf_counter() - started)

    def close(self) -> None:
        """Release the store."""
        self._store.close()

    def __enter__(self) -> Asker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retrieve(self, question: str) -> list[Hit]:
        """Return the top-k chunks for a question, best first."""
        vector = self._embedder.embed([question])[0]
        found = self._index.search(vector, self.options.top_k, exclude=self._tombstones)
        chunks = self._store.chunks_by_id([chunk_id for chunk_id, _ in found])
        return [Hit(chunks[i], score) for i, score in found if i in chunks]

    def ask(self, question: str, on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer one question, passing the text to on_text as it is generated."""
        started = time.perf_counter()
        # Passages under the relevance floor only distract a small model.
        hits = [h for h in self.retrieve(question) if h.score >= self.options.min_score]
        self.timings.retrieve_s += time.perf_counter() - started
        if hits:
            answer = self.generate(question, hits, on_text)
        else:
            answer = Answer(question, NOT_FOUND, (), answerable=False)
            if on_text is not None:
                on_text(answer.text)
        self.timings.per_question.append(time.perf_counter() - started)
        return answer

    def generate(
        self,
        question: str,
        hits: Sequence[Hit],
        on_text: Callable[[str], None] | None = None,
        template: PromptTemplate = DEFAULT_TEMPLATE,
    ) -> Answer:
        """Have the LLM answer from the given hits (as many as fit its context window)."""
        started = time.perf_counter()
        budget = (
            self._llm.context_tokens - self.options.generation.max_tokens - _PROMPT_MARGIN_TOKENS
        )
        parts = build_prompt(
            question, hits, self._llm.count_tokens, budget, self._llm.has_chat_template, template
        )
        pieces: list[str] = []
        for piece in self._llm.stream(parts.prompt, self.options.generation):
            if not pieces:
                piece = piece.lstrip()
            pieces.append(piece)
            if on_text is not None and piece:
                on_text(piece)
            if is_degenerate("".join(pieces[-16:])):
                if on_text is not None:
                    on_text(f"\n{DEGENERATE}")
                self.timings.generate_s += time.perf_counter() - started
                return Answer(question, DEGENERATE, parts.hits, answerable=False)
        self.timings.generate_s += time.perf_counter() - started
        text = "".join(pieces).strip()
        return Answer(question, text, parts.hits, answerable=NOT_FOUND not in text)
