"""`rag ask`: retrieve the best chunks for a question and have the LLM answer from them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ragcli.answering.base import AnswerSettings, Strategy
from ragcli.answering.factory import make_strategy
from ragcli.answering.packed import PackedStrategy
from ragcli.answering.prompts import NOT_FOUND, PromptParts, with_last_turn
from ragcli.llm.base import LLM, LlmOptions
from ragcli.llm.factory import make_llm
from ragcli.records import Answer, GenerationSettings, Hit, Timings, Turn
from ragcli.retrieval.followup import Query, as_query, resolve
from ragcli.retrieval.gate import names_something, relevant_hits
from ragcli.retrieval.retriever import RetrievalSettings, Retriever
from ragcli.text.questions import check_question


@dataclass(frozen=True)
class AskOptions:
    """How to answer questions, from one store or several (hits merged by score)."""

    stores: tuple[Path, ...]
    llm_spec: str
    llm: LlmOptions
    cache_dir: Path
    generation: GenerationSettings
    strategy: str
    strict: bool
    answer_threshold: float
    min_confidence: float
    top_k: int
    min_score: float
    retrieval: RetrievalSettings


class Asker:
    """Models loaded once, ready to answer any number of questions."""

    def __init__(
        self, options: AskOptions, open_retriever: Callable[[], Retriever] | None = None
    ) -> None:
        """Load the LLM, and open the stores (or have `open_retriever` open them, meanwhile).

        A retriever from `open_retriever` stays the caller's to close, and to replace:
        `self.retriever` is what questions are answered from (a library swaps in one
        reopened on a changed store).
        """
        started = time.perf_counter()
        self.options = options
        self._owns_retriever = open_retriever is None
        # The LLM loads in a thread while the store, index and embedder load here: both
        # spend their time in C code that releases the GIL.
        with ThreadPoolExecutor(max_workers=1) as pool:
            llm = pool.submit(self._load_llm)
            try:
                self.retriever = (
                    open_retriever()
                    if open_retriever is not None
                    else Retriever(options.stores, options.retrieval, options.llm.threads)
                )
            except BaseException:
                llm.cancel()
                raise
            try:
                self._llm: LLM = llm.result()
            except BaseException:
                self.close()
                raise
        self.timings = Timings(load_s=time.perf_counter() - started)

    def _load_llm(self) -> LLM:
        llm = make_llm(self.options.llm_spec, self.options.llm, self.options.cache_dir)
        self.strategy: Strategy = make_strategy(self.options.strategy, llm, self._answer_settings)
        self.strategy.prepare()  # in the loading thread, beside the store and index
        return llm

    @property
    def _answer_settings(self) -> AnswerSettings:
        options = self.options
        return AnswerSettings(
            options.generation,
            options.strict,
            options.answer_threshold,
            min_confidence=options.min_confidence,
        )

    def close(self) -> None:
        """Release the store, unless the caller lent it."""
        if self._owns_retriever:
            self.retriever.close()

    def __enter__(self) -> Asker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def llm_spec(self) -> str:
        """Which LLM answers: a model name or path, or a model at a server."""
        return self._llm.spec

    def retrieve(self, question: str | Query) -> list[Hit]:
        """Return the top-k chunks for a question, best first."""
        options = self.options
        return self.retriever.retrieve(question, options.top_k, options.retrieval.mode)

    def relevant(self, question: str | Query) -> list[Hit]:
        """Return the top-k chunks that pass the relevance gate, best first.

        A question with nothing to look up (one letter, function words, punctuation) gets
        none, before any retrieval: whatever the store, no passage can answer it. A
        follow-up looks up the words it carries too.
        """
        query = as_query(question)
        looked_up = f"{query.text}\n{query.carried}" if query.follows_up else query.text
        if not names_something(looked_up):
            return []
        options = self.options
        return relevant_hits(
            looked_up, self.retrieve(query), options.min_score, options.retrieval.mode
        )

    def context(self, question: str) -> PromptParts:
        """Build the prompt for a question: the relevant chunks packed into numbered passages."""
        packed = PackedStrategy(self._llm, self._answer_settings)
        return packed.prompt(question, self.relevant(question))

    def ask(
        self,
        question: str,
        on_text: Callable[[str], None] | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """Answer one question, in the light of the turns before it (oldest first).

        The text goes to on_text as it is generated.
        """
        started = time.perf_counter()
        question = check_question(question)
        query = resolve(question, history)
        hits = self.relevant(query)
        self.timings.retrieve_s += time.perf_counter() - started
        if hits:
            # An elliptic follow-up is asked after the last exchange, which the model needs
            # to read it ("And on MMLU?"); shown after other follow-ups, the small model
            # copies the last answer. The answer names the question as the user asked it.
            shown = with_last_turn(question, history[-1]) if query.elliptic else question
            answer = replace(self.generate(shown, hits, on_text), question=question)
        else:
            # Nothing relevant: say so rather than let the model guess from noise.
            answer = Answer(
                question, NOT_FOUND, (), answerable=False, strategy=self.options.strategy
            )
            if on_text is not None:
                on_text(answer.text)
        self.timings.per_question.append(time.perf_counter() - started)
        return answer

    def generate(
        self,
        question: str,
        hits: Sequence[Hit],
        on_text: Callable[[str], None] | None = None,
        strategy: Strategy | None = None,
    ) -> Answer:
        """Have the LLM answer from the given hits with the session's (or another) strategy."""
        started = time.perf_counter()
        answer = (strategy or self.strategy).answer(question, hits, on_text)
        self.timings.generate_s += time.perf_counter() - started
        return answer
