"""The Python API: one or several stores to ingest into, search, question and tidy.

What the `rag` commands, the MCP server and the benchmarks all call. Models and stores load
on first use and stay loaded for the calls after; each call sees the stores as they are
then (a store another process changed is opened again, its embedder kept)::

    from ragcli.library import Library

    with Library.configured(store="./notes") as library:
        library.ingest(["docs/"])
        for hit in library.search("vacation policy", k=3).hits:
            print(hit.chunk.path, hit.chunk.start_line, hit.score)
        answer = library.ask("How many vacation days do I get?")
        print(answer.text, [passage.path for passage in answer.passages])

`Library(settings)` takes a resolved `ragcli.settings.Settings` (`settings.defaults()` is
every setting at its default); `Library.configured` resolves one as `rag` does. The library
never prints or exits: it returns records (ragcli.records) and raises `ragcli.errors.RagError`
subclasses, each with the exit code `rag` would give.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragcli.errors import UsageError
from ragcli.progress import Progress, SilentProgress
from ragcli.records import (
    Answer,
    IngestResult,
    RemoveResult,
    SearchResult,
    StoredDocument,
    StoreStatus,
    Timings,
    Turn,
)
from ragcli.retrieval.followup import resolve
from ragcli.settings import KEYS, Settings, checked
from ragcli.store import Store
from ragcli.text.questions import check_question

if TYPE_CHECKING:
    from ragcli.answering.prompts import PromptParts
    from ragcli.build import BuildSettings
    from ragcli.discovery import DiscoveryOptions
    from ragcli.retrieval.retriever import Retriever
    from ragcli.steps.ask import Asker
    from ragcli.text.loaders import LoadLimits


class Library:
    """One or several stores, with the models that search and answer from them.

    Searching and answering take every store (hits merged by score, each naming its
    store); `ingest`, `sources`, `status` and `remove` work on one store and refuse
    several. Nothing is opened up front: a missing store is an error of the first call
    that needs it. The library never takes a store's writer lock except to ingest or
    remove. Use it from one thread (SQLite connections and llama.cpp contexts stay on the
    thread that made them), and close it, or use it as a context manager.
    """

    def __init__(
        self, settings: Settings, *, strict: bool = False, cache_dir: Path | None = None
    ) -> None:
        """Make a library over the stores `settings.stores` names; nothing loads yet.

        Args:
            settings: The resolved settings (`ragcli.settings.defaults()`, or
                `Library.configured` to resolve them as `rag` does).
            strict: Have answers whose names or numbers are in no passage declined
                (`rag ask --strict`).
            cache_dir: Where the bundled model is assembled (default: the user cache dir).
        """
        self.settings = settings
        self._strict = strict
        self._cache_dir = cache_dir
        # Keyword retrieval needs only the database; dense and hybrid share one retriever
        # with the index and embedder loaded (opened only when such a call comes).
        self._retrievers: dict[str, Retriever] = {}
        self._asker: Asker | None = None

    @classmethod
    def configured(
        cls,
        env: Mapping[str, str] | None = None,
        config: Path | None = None,
        *,
        strict: bool = False,
        **overrides: Any,
    ) -> Library:
        """Make a library with settings layered as `rag` layers them.

        Each setting is the override given, else its RAG_* variable in `env`, else the
        config file's value, else its default (`rag config` lists them).

        Args:
            env: The environment to read RAG_* variables from, e.g. `os.environ`
                (default: none).
            config: The TOML config file (default: `config.toml` in the user config
                dir, if there is one; RAG_CONFIG in `env` names another).
            strict: As for `Library`.
            **overrides: Settings by name, e.g. `store="./notes"`, `top_k=3`. `store`
                takes a `Path` (a directory), a string read as `--store` reads it (a
                directory, or the name of a store in the user data dir) or a list of them.

        Raises:
            UsageError: An unknown setting, or a value out of its range.
        """
        from ragcli.config import load_config
        from ragcli.settings import resolve

        unknown = sorted(set(overrides) - set(KEYS))
        if unknown:
            raise UsageError(f"unknown settings: {', '.join(unknown)}", "see `rag config`")
        if overrides.get("store") is not None:
            overrides["store"] = _store_values(overrides["store"])
        env = {} if env is None else env
        settings = resolve(overrides, env, load_config(config, env))
        return cls(settings, strict=strict)

    @property
    def stores(self) -> tuple[Path, ...]:
        """The store directories, in the order given."""
        return self.settings.stores

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        progress: Progress | None = None,
        build: BuildSettings | None = None,
        discovery: DiscoveryOptions | None = None,
        load: LoadLimits | None = None,
        index: bool = True,
        dry_run: bool = False,
        wait: bool = True,
    ) -> IngestResult:
        """Bring the store in step with files and folders: add new, replace changed, drop gone.

        Args:
            paths: Files and folders (walked recursively).
            progress: Told of each stage and file (default: nothing is told).
            build: What a new store is built with (default: the settings' embedder,
                vectors, chunking and threads); an existing store keeps its own.
            discovery: Which files a walk takes (default: all it can read).
            load: How files are read, OCR included (default: as the settings say).
            index: Embed and index the new chunks right away.
            dry_run: Only plan: the result's `plan` says what would change.
            wait: Wait for another process writing the store, rather than fail at once.

        Returns:
            What was added, changed, removed and skipped, and what indexing did.

        Raises:
            InputNotFoundError: A path that does not exist.
            StoreLockedError: The store is being written and `wait` is false.
        """
        from ragcli.options import build_settings, discovery_options, load_limits
        from ragcli.steps.ingest import IngestOptions
        from ragcli.steps.ingest import ingest as run_ingest

        settings = self.settings
        options = IngestOptions(
            paths=tuple(Path(path) for path in paths),
            store_dir=self._one_store("ingest"),
            build=build or build_settings(settings, int8=True),
            discovery=discovery or discovery_options(settings),
            index=index,
            batch_size=settings.batch_size,
            dry_run=dry_run,
            wait=wait,
            load=load or load_limits(settings),
        )
        return run_ingest(options, progress or SilentProgress())

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        *,
        history: Sequence[Turn] = (),
    ) -> SearchResult:
        """Find the chunks that best match a query, no LLM.

        Args:
            query: What to look for.
            k: How many hits, at most (default: the `search_k` setting).
            mode: `hybrid`, `dense` or `keyword` (default: the `mode` setting).
            history: The conversation so far, oldest turn first: a follow-up query is
                read in its light.

        Returns:
            The hits, best first, and the seconds the search took (loading included).

        Raises:
            UsageError: An empty or overlong query, or k or mode out of range.
            EmptyStoreError: A store with nothing stored (or, unless keyword, indexed).
        """
        started = time.perf_counter()
        query = check_question(query, "query")
        k = self.settings.search_k if k is None else checked(KEYS["search_k"], k, "k")
        mode = self.settings.mode if mode is None else checked(KEYS["mode"], mode, "mode")
        hits = self._retriever(mode).retrieve(resolve(query, history), k, mode)
        return SearchResult(query, hits, time.perf_counter() - started)

    def ask(
        self,
        question: str,
        on_text: Callable[[str], None] | None = None,
        *,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """Answer a question from the stores with the LLM, citing the passages it read.

        Args:
            question: The question.
            on_text: Called with the answer's text as it is generated.
            history: The conversation so far, oldest turn first: a follow-up question is
                read in its light (`ragcli.conversation.Conversation` keeps it).

        Returns:
            The answer; `answerable` is false when nothing relevant was found.

        Raises:
            UsageError: An empty or overlong question.
            ModelError: The LLM could not be loaded or reached.
        """
        return self._answering().ask(question, on_text, history)

    def context(self, question: str) -> PromptParts:
        """Return the prompt the packed strategy would give the LLM: the numbered passages."""
        return self._answering().context(question)

    def sources(self) -> list[StoredDocument]:
        """Return the stored documents with their chunk counts."""
        with Store.open(self._one_store("sources"), vectors_token=self._vectors_token) as store:
            return store.documents()

    def status(self) -> StoreStatus:
        """Count the documents, chunks, vectors and index entries of the store."""
        with Store.open(self._one_store("status"), vectors_token=self._vectors_token) as store:
            return store.status()

    def remove(
        self,
        targets: Sequence[str],
        *,
        everything: bool = False,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> RemoveResult:
        """Remove documents stored under the given paths (files, or folders and all below).

        Args:
            targets: Stored files or folders; an empty or root-like one is refused.
            everything: Remove every document (then give no targets).
            wait: Wait for another process writing the store, rather than fail at once.
            on_wait: Told, once, that the store is being written and the call waits.

        Returns:
            The paths removed and the vectors the index holds now.

        Raises:
            InputNotFoundError: A target under which nothing is stored.
        """
        from ragcli.steps.remove import remove_documents

        store_dir = self._one_store("remove")
        told = on_wait or _ignore
        return remove_documents(store_dir, targets, wait, told, everything, self._vectors_token)

    def load(self, answering: bool = False) -> None:
        """Open the stores for searching now, and the LLM too if `answering`: not on first use."""
        if answering:
            self._answering()
        else:
            self._retriever(self.settings.mode)

    @property
    def timings(self) -> Timings:
        """Where answering's time went: loading, retrieval, generation, each question."""
        return self._asker.timings if self._asker is not None else Timings()

    @property
    def llm_spec(self) -> str:
        """The LLM that answers: as loaded (a server's model by its name), else as set."""
        return self._asker.llm_spec if self._asker is not None else self.settings.model

    def close(self) -> None:
        """Release the stores and models."""
        retrievers = list(self._retrievers.values())
        self._retrievers.clear()
        try:
            if self._asker is not None:
                self._asker.close()
        finally:
            for retriever in retrievers:
                retriever.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _answering(self) -> Asker:
        """The answering engine, loaded once, answering from the stores as they are now."""
        from ragcli.options import ask_options
        from ragcli.steps.ask import Asker

        if self._asker is None:
            options = ask_options(self.settings, self._strict, self._cache_dir)
            self._asker = Asker(options, lambda: self._retriever(options.retrieval.mode))
        else:
            self._asker.retriever = self._retriever(self._asker.options.retrieval.mode)
        return self._asker

    def _retriever(self, mode: str) -> Retriever:
        """The retriever for a mode, reopened if a store changed since it was opened."""
        from dataclasses import replace

        from ragcli.options import retrieval_settings
        from ragcli.retrieval.retriever import Retriever

        kind = "keyword" if mode == "keyword" else "hybrid"
        current = self._retrievers.get(kind)
        if current is None:
            settings = replace(retrieval_settings(self.settings), mode=kind)
            current = Retriever(self.stores, settings, self.settings.threads)
        else:
            current = current.reopened()
        self._retrievers[kind] = current
        return current

    @property
    def _vectors_token(self) -> str | None:
        """What the stores' vector database asks for (Milvus): the milvus_token setting."""
        return self.settings.milvus_token

    def _one_store(self, verb: str) -> Path:
        if len(self.stores) > 1:
            raise UsageError(f"{len(self.stores)} stores open, but {verb} works on one")
        return self.stores[0]


def _ignore(message: str) -> None:
    """Tell nobody."""


def _store_values(store: str | Path | Sequence[str | Path]) -> list[str]:
    """The `store` override as --store values: a Path is a directory, never a name."""
    given = [store] if isinstance(store, str | Path) else list(store)
    return [str(item.absolute()) if isinstance(item, Path) else item for item in given]
