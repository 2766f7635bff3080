"""`rag mcp`: one session serving many calls, models loaded once, the store read as it is now."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ragcli.records import Answer, SearchResult, StoredDocument, StoreStatus
from ragcli.retrieval.retriever import Retriever
from ragcli.settings import KEYS, checked
from ragcli.steps.ask import Asker, AskOptions
from ragcli.steps.documents import list_documents
from ragcli.steps.status import status
from ragcli.text.questions import check_question


@dataclass(frozen=True)
class SessionOptions:
    """What a session serves: the store and models of `rag ask`, and the search depth."""

    ask: AskOptions
    search_k: int


class Session:
    """The store and models of a server: each loaded on first use and kept for every call.

    Nothing is opened up front, so a server starts at once and a missing store is an error
    of each call (the same one the CLI gives) rather than of the server. Each call sees the
    store as it is now: a retriever whose store another process has since changed (`rag
    ingest`, `rag rm`) is reopened, keeping its embedder; the session never takes the
    store's writer lock.
    """

    def __init__(self, options: SessionOptions) -> None:
        self.options = options
        # Keyword retrieval needs only the database; dense and hybrid share one retriever
        # with the index and embedder loaded (opened only when such a call comes).
        self._retrievers: dict[str, Retriever] = {}
        self._asker: Asker | None = None

    def search(self, query: str, k: int, mode: str) -> SearchResult:
        """Return the k best chunks for a query in the given retrieval mode."""
        started = time.perf_counter()
        query = check_question(query, "query")
        k = checked(KEYS["search_k"], k, "k")
        mode = checked(KEYS["mode"], mode, "mode")
        hits = self._retriever(mode).retrieve(query, k, mode)
        return SearchResult(query, hits, time.perf_counter() - started)

    def ask(self, question: str) -> Answer:
        """Answer a question from the store with the session's LLM."""
        retriever = self._retriever(self.options.ask.retrieval.mode)
        if self._asker is None:
            self._asker = Asker(self.options.ask, retriever)
        else:
            self._asker.retriever = retriever
        return self._asker.ask(question)

    def sources(self) -> list[StoredDocument]:
        """Return the stored documents with their chunk counts."""
        return list_documents(self.options.ask.stores[0])

    def status(self) -> StoreStatus:
        """Count what the store holds."""
        return status(self.options.ask.stores[0])

    @property
    def llm(self) -> str:
        """The LLM `ask` answers with, as `rag status` names it."""
        return self.options.ask.llm_spec

    def close(self) -> None:
        """Release the store."""
        if self._asker is not None:
            self._asker.close()
        for retriever in self._retrievers.values():
            retriever.close()
        self._retrievers.clear()

    def _retriever(self, mode: str) -> Retriever:
        """The retriever for a mode, reopened if the store changed since it was opened."""
        kind = "keyword" if mode == "keyword" else "hybrid"
        current = self._retrievers.get(kind)
        if current is None:
            options = self.options.ask
            settings = replace(options.retrieval, mode=kind)
            current = Retriever(options.stores[0], settings, options.llm.threads)
        else:
            current = current.reopened()
        self._retrievers[kind] = current
        return current
