"""The `rag` command: parse flags, call one step, render the result."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Optional

import typer

from ragcli import output

if TYPE_CHECKING:
    from ragcli.records import ChunkingSettings, IndexReport
    from ragcli.steps.ask import Asker
from ragcli.errors import ExitCode, InputNotFoundError, RagError, UsageError
from ragcli.settings import ANSWER_STRATEGIES, KEYS, LLM_APIS, RETRIEVAL_MODES, Settings
from ragcli.text.questions import QuestionLine, check_question, read_questions

EXIT_CODES = """Exit codes: 0 ok; 1 internal error; 2 usage error, invalid config or settings
that disagree with the store; 3 no store or empty store; 4 input path or file not found;
5 model or LLM server failed; 6 finished but some files were skipped; 7 store locked by
another writer (--no-wait); 8 nothing relevant found; 9 store unreadable or damaged (rag
doctor); 10 store not writable (disk full, read-only, lock path in the way); 130 interrupted.
Settings: flag > RAG_* environment > config file (rag config shows them) > default."""

app = typer.Typer(
    name="rag",
    help="Ask questions about your documents, answered by local models with cited sources.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _default(key: str) -> str:
    """A setting's default as --help shows it."""
    return str(KEYS[key].default)


# Options shared by several commands, declared once.
StoreOpt = Annotated[
    Optional[Path],  # noqa: UP045 - Typer needs Optional on Python 3.10
    typer.Option(
        "--store",
        help="Store directory [env RAG_STORE, config `store`; default: the user data dir].",
        file_okay=False,
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--config",
        help="TOML config file [env RAG_CONFIG; default: config.toml in the user config dir].",
        dir_okay=False,
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Timings and details on stderr.")]
ThreadsOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--threads",
        help="CPU threads, 1 to 4 x the cores [env RAG_THREADS; "
        "default: the free cores, one for questions' embedding].",
        show_default=False,
    ),
]
EmbedOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--embed-model",
        help=f"Sentence-transformers folder for a new store [default: {_default('embedder')}]. "
        "An existing store always uses the embedder it was built with.",
        show_default=False,
    ),
]
BatchOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--batch-size",
        help=f"Chunks embedded per batch, 1-4096 [env RAG_BATCH_SIZE; "
        f"default: {_default('batch_size')}].",
        show_default=False,
    ),
]
Fp32Opt = Annotated[
    bool,
    typer.Option(
        "--fp32",
        help="Embed documents with the full-precision model, not its "
        "checked int8 copy (about half as fast).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Exit 7 at once if another process writes the store.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes.")]
Mode = Enum("Mode", {mode: mode for mode in RETRIEVAL_MODES}, type=str)  # type: ignore[misc]
ModeOpt = Annotated[
    Optional[Mode],  # noqa: UP045
    typer.Option(
        "--mode",
        help="Retrieval: keyword (BM25) and dense (embeddings) fused, or just one "
        f"[env RAG_MODE; default: {_default('mode')}].",
        show_default=False,
    ),
]
StrategyChoice = Enum(  # type: ignore[misc]
    "StrategyChoice", {name: name for name in ANSWER_STRATEGIES}, type=str
)
LlmApi = Enum("LlmApi", {name: name for name in LLM_APIS}, type=str)  # type: ignore[misc]


def _settings(config: Path | None, **flags: Any) -> Settings:
    """Layer the flags over the environment and the config file: once per command."""
    from ragcli.config import load_config
    from ragcli.settings import resolve

    return resolve(flags, os.environ, load_config(config, os.environ))


@app.command()
def ingest(
    paths: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Argument(help="Files and directories (recursive).", show_default=False),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    files_from: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--files-from",
            help="Read more paths from FILE, one a line ('-': stdin; each at most PATH_MAX bytes).",
        ),
    ] = None,
    null: Annotated[
        bool, typer.Option("-0", "--null", help="--files-from names end in NUL, not newline.")
    ] = False,
    include: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--include", help="Only files matching this glob (repeatable)."),
    ] = None,
    exclude: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--exclude", help="Skip files and folders matching this glob (repeatable)."),
    ] = None,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links",
            help="Follow symlinks that lead outside the "
            "folders given (or, for files named, the current directory).",
        ),
    ] = False,
    embed_model: EmbedOpt = None,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Embed and index right away.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added, changed, removed.")
    ] = False,
    chunk_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Target chunk size in word pieces, 16-4096, for a new store [200]."),
    ] = None,
    overlap_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            help="Overlap between chunks in word pieces, 0-2048 and less than the "
            "chunk size, for a new store [32]."
        ),
    ] = None,
    batch_size: BatchOpt = None,
    threads: ThreadsOpt = None,
    fp32: Fp32Opt = False,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Bring the store in step with files and folders: add new, replace changed, drop gone."""
    from ragcli.build import BuildSettings
    from ragcli.discovery import DiscoveryOptions
    from ragcli.steps.ingest import IngestOptions
    from ragcli.steps.ingest import ingest as run_ingest

    effective = _settings(
        config,
        store=store,
        embedder=embed_model,
        chunk_tokens=chunk_tokens,
        overlap_tokens=overlap_tokens,
        batch_size=batch_size,
        threads=threads,
    )
    targets = list(paths or [])
    if files_from is not None:
        targets += _read_path_list(files_from, null)
    if not targets:
        raise typer.BadParameter("give PATH... or --files-from FILE", param_hint="PATH")
    options = IngestOptions(
        paths=tuple(targets),
        store_dir=effective.store,
        build=BuildSettings(
            effective.chosen("embedder"),
            _chunking(effective),
            None,
            effective.threads,
            int8=not fp32,
        ),
        discovery=DiscoveryOptions(
            tuple(include or ()), tuple(exclude or ()), links_outside=follow_links
        ),
        index=index,
        batch_size=effective.batch_size,
        dry_run=dry_run,
        wait=not no_wait,
    )
    with output.ProgressBar(quiet) as progress:
        result = run_ingest(options, progress)
    for skipped in result.report.skipped:
        # Files that failed are errors, said even with --quiet (progress said them already
        # otherwise); files passed over on purpose are only notes.
        if skipped.failed == quiet:
            output.note(f"skipped {skipped.path}: {skipped.reason}")
    if result.plan is not None:
        if json_out:
            output.print_json(output.plan_json(result.plan))
        else:
            output.write(output.format_plan(result.plan))
        return
    if json_out:
        output.print_json(output.ingest_json(result.report, result.index))
    else:
        output.write(output.format_ingest(result.report, result.index))
    if result.report.failed:
        raise typer.Exit(ExitCode.FILES_SKIPPED)


def _read_path_list(name: str, null: bool) -> list[Path]:
    import stat

    from ragcli.discovery import read_path_list
    from ragcli.errors import UsageError

    if name == "-":
        return read_path_list(sys.stdin.buffer, null)
    try:
        # A pipe or process substitution is a fine list; a folder never is.
        if stat.S_ISDIR(os.stat(name).st_mode):
            raise UsageError(f"--files-from {name} is a directory, not a list of paths")
        with open(name, "rb") as handle:
            return read_path_list(handle, null)
    except OSError as exc:
        raise InputNotFoundError(f"cannot read --files-from {name}: {exc.strerror}") from exc


def _chunking(effective: Settings) -> ChunkingSettings | None:
    """The chunking asked for a new store, or None to keep the store's (or the default)."""
    from ragcli.records import ChunkingSettings

    if effective.chosen("chunk_tokens") is None and effective.chosen("overlap_tokens") is None:
        return None
    chosen = ChunkingSettings(effective.chunk_tokens, effective.overlap_tokens)
    if chosen.overlap_tokens >= chosen.chunk_tokens:
        raise UsageError(
            f"--overlap-tokens must be less than the chunk size "
            f"({chosen.chunk_tokens}), not {chosen.overlap_tokens}"
        )
    return chosen


@app.command("index")
def index_command(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    embed_model: EmbedOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the index from stored vectors.")
    ] = False,
    batch_size: BatchOpt = None,
    threads: ThreadsOpt = None,
    fp32: Fp32Opt = False,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Embed every chunk not yet embedded and update the vector index."""
    from ragcli.build import BuildSettings, check_embedder
    from ragcli.steps.index import IndexOptions
    from ragcli.steps.index import index as run_index

    effective = _settings(
        config, store=store, embedder=embed_model, batch_size=batch_size, threads=threads
    )
    embedder = effective.chosen("embedder")
    build = BuildSettings(embedder, None, None, effective.threads, int8=not fp32)
    options = IndexOptions(effective.store, build, effective.batch_size, rebuild, wait=not no_wait)
    if embedder is not None:
        check_embedder(options.store_dir, embedder)
    with output.ProgressBar(quiet) as progress:
        report = run_index(options, progress)
    _print_index(report, json_out)


@app.command()
def compact(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Rebuild the index without removed chunks and drop vectors nothing uses."""
    from ragcli.build import BuildSettings
    from ragcli.steps.index import IndexOptions
    from ragcli.steps.index import compact as run_compact

    effective = _settings(config, store=store)
    options = IndexOptions(
        effective.store,
        BuildSettings(None, None, None, None, int8=True),
        effective.batch_size,
        rebuild=False,
        wait=not no_wait,
    )
    with output.ProgressBar(quiet) as progress:
        report = run_compact(options, progress)
    _print_index(report, json_out)


def _print_index(report: IndexReport, json_out: bool) -> None:
    if json_out:
        output.print_json(output.index_json(report))
    else:
        output.write(output.format_index(report) + "\n")


@app.command()
def sources(store: StoreOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """List the stored documents with their chunk counts."""
    from ragcli.steps.documents import list_documents

    documents = list_documents(_settings(config, store=store).store)
    if json_out:
        output.print_json([output.document_json(d) for d in documents])
    else:
        output.write(output.format_documents(documents))


@app.command()
def rm(
    paths: Annotated[
        Optional[list[str]],  # noqa: UP045 - str, not Path: Path("") would read as "."
        typer.Argument(
            help="Stored files, or folders to empty ('', '/', '.' are refused).", show_default=False
        ),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Remove every document in the store.")
    ] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove documents (and everything stored under a folder) from the store."""
    from ragcli.steps.documents import remove_documents

    store_dir = _settings(config, store=store).store
    note = (lambda _: None) if quiet else output.note
    result = remove_documents(store_dir, paths or [], not no_wait, note, everything)
    if json_out:
        output.print_json({"removed": result.paths, "indexed": result.indexed})
    else:
        output.write(
            f"removed {len(result.paths)} documents; index holds {result.indexed} vectors\n"
        )


@app.command()
def ask(
    question: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="The question; '-' or none with piped stdin: one per line."),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    model: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--model",
            help="A .gguf file [env RAG_MODEL; default: bundled Gemma 3 270M].",
            show_default=False,
        ),
    ] = None,
    llm_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--llm-url",
            help="An OpenAI-compatible server, e.g. http://host:8000/v1, "
            "instead of --model [env RAG_LLM_URL; key: RAG_LLM_API_KEY].",
            show_default=False,
        ),
    ] = None,
    llm_model: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--llm-model",
            help="Model name on that server [env RAG_LLM_MODEL; default: the first it lists].",
            show_default=False,
        ),
    ] = None,
    llm_api: Annotated[
        Optional[LlmApi],  # noqa: UP045
        typer.Option(
            "--llm-api",
            help="Server endpoint: chat (messages) or completion (raw prompt, for base models) "
            f"[default: {_default('llm_api')}].",
            show_default=False,
        ),
    ] = None,
    top_k: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--top-k",
            "-k",
            help=f"Chunks retrieved, 1-1000 [env RAG_TOP_K; default: {_default('top_k')}].",
            show_default=False,
        ),
    ] = None,
    mode: ModeOpt = None,
    max_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--max-tokens",
            help="Longest answer, in tokens: at least 1, at most the "
            f"context less the prompt [env RAG_MAX_TOKENS; default: "
            f"{_default('max_tokens')}].",
            show_default=False,
        ),
    ] = None,
    temperature: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--temperature",
            help="Sampling temperature, 0-2 [env RAG_TEMPERATURE; default: 0].",
            show_default=False,
        ),
    ] = None,
    context_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--context-tokens",
            help="Model context window, 512-131072 and at most "
            f"what the model was trained on [env RAG_CONTEXT_TOKENS; default: "
            f"{_default('context_tokens')}].",
            show_default=False,
        ),
    ] = None,
    min_score: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--min-score",
            help="Best cosine score below which nothing is relevant, "
            f"-1 to 1 [env RAG_MIN_SCORE; default: {_default('min_score')}].",
            show_default=False,
        ),
    ] = None,
    strategy: Annotated[
        Optional[StrategyChoice],  # noqa: UP045
        typer.Option(
            "--strategy",
            help="How the model reads the passages: sequence (one at a time, "
            "answers weighed by retrieval score and model probability) or packed (all in one "
            f"prompt, streamed) [env RAG_STRATEGY; default: {_default('strategy')}].",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help='Say "The context does not say." rather than give an '
            "answer whose names or numbers are in no passage.",
        ),
    ] = False,
    context_only: Annotated[
        bool,
        typer.Option(
            "--context-only",
            help="Print the packed, numbered context (what --strategy "
            "packed gives the model); no answer.",
        ),
    ] = False,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    stream_json: Annotated[
        bool, typer.Option("--stream-json", help="NDJSON events: token..., sources, done.")
    ] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Answer a question from the store's documents and list the sources used."""
    from ragcli.settings import model_cache_dir
    from ragcli.steps.ask import Asker, AskOptions

    batch = _from_stdin(question, "QUESTION", "questions")
    effective = _settings(
        config,
        store=store,
        model=model,
        llm_url=llm_url,
        llm_model=llm_model,
        llm_api=None if llm_api is None else llm_api.value,
        top_k=top_k,
        mode=None if mode is None else mode.value,
        max_tokens=max_tokens,
        temperature=temperature,
        context_tokens=context_tokens,
        min_score=min_score,
        strategy=None if strategy is None else strategy.value,
        threads=threads,
    )
    if not batch:
        assert question is not None
        question = check_question(question)
    options = AskOptions.from_settings(effective, model_cache_dir(), strict)
    style = "stream" if stream_json else "json" if json_out else "text"
    reply = _context if context_only else _answer
    with Asker(options) as asker:
        if verbose and not quiet:
            output.note(
                f"loaded store and models in {asker.timings.load_s:.2f} s "
                f"({asker.llm_spec}, mode {options.retrieval.mode}, "
                f"strategy {options.strategy})"
            )
        if not batch:
            assert question is not None
            answered = reply(asker, question, style, heading=False)
            _timings(asker, verbose and not quiet)
            if not answered:
                raise typer.Exit(ExitCode.NOT_FOUND)
            return
        first, refused = True, False
        for line in read_questions(_stdin_bytes()):
            if line.text is None:
                output.error(f"stdin {line.problem}; skipped")
                refused = True
                continue
            if not first and style == "text":
                output.write("\n")
            first = False
            try:
                reply(asker, line.text, style, heading=True)
            except UsageError as exc:  # this question cannot be asked; the next may be
                output.error(f"stdin line {line.number}: {exc}; skipped")
                refused = True
                continue
            _timings(asker, verbose and not quiet)
    if refused:
        raise typer.Exit(ExitCode.USAGE)


def _stdin_bytes() -> BinaryIO:
    """Standard input as bytes: lines are bounded and decoded by ragcli, not by Python."""
    return sys.stdin.buffer


def _from_stdin(argument: str | None, name: str, plural: str) -> bool:
    """Whether lines come from stdin: '-' or no argument with piped input; else need one."""
    batch = argument == "-" or (argument is None and not sys.stdin.isatty())
    if argument is None and not batch:
        raise typer.BadParameter(
            f"give a {name}, or '-' to read {plural} from stdin", param_hint=name
        )
    return batch


def _timings(asker: Asker, verbose: bool) -> None:
    if verbose and asker.timings.per_question:
        t = asker.timings
        output.note(
            f"question took {t.per_question[-1]:.2f} s (total retrieval "
            f"{t.retrieve_s * 1000:.0f} ms, generation {t.generate_s:.2f} s)"
        )


def _answer(asker: Asker, question: str, style: str, heading: bool) -> bool:
    renderer = output.answer_renderer(style, heading)
    renderer.begin(question)
    answer = asker.ask(question, on_text=renderer.on_text)
    renderer.end(question, answer)
    return answer.answerable


def _context(asker: Asker, question: str, style: str, heading: bool) -> bool:
    parts = asker.context(question)
    output.print_context(question, parts, as_json=style != "text")
    return bool(parts.passages)


@app.command()
def search(
    query: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="What to look for; '-' or none with piped stdin: one per line."),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    top_k: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--top-k",
            "-k",
            help=f"Results per query, 1-10000 [env RAG_SEARCH_K; default: {_default('search_k')}].",
            show_default=False,
        ),
    ] = None,
    mode: ModeOpt = None,
    threads: ThreadsOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per result (NDJSON).")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Find the chunks that match a query, no LLM: `path:line: snippet` lines, best first."""
    import time

    from ragcli.retrieval.retriever import RetrievalSettings
    from ragcli.steps.search import SearchOptions
    from ragcli.steps.search import search as run_search

    effective = _settings(
        config,
        store=store,
        search_k=top_k,
        mode=None if mode is None else mode.value,
        threads=threads,
    )
    batch = _from_stdin(query, "QUERY", "queries")
    refused: list[str] = []
    if batch:
        queries = _checked_lines(read_questions(_stdin_bytes(), "query"), refused)
    else:
        assert query is not None
        queries = iter([check_question(query, "query")])
    chosen = effective.mode
    options = SearchOptions(
        effective.store, RetrievalSettings(mode=chosen), effective.search_k, effective.threads
    )
    found = False
    started = time.perf_counter()
    for text, hits in run_search(options, queries):
        found = found or bool(hits)
        for rank, hit in enumerate(hits, start=1):
            if json_out:
                output.print_json(output.hit_json(hit, text, rank, chosen))
            else:
                output.write(output.format_hit(hit, text))
        if verbose:
            output.note(
                f"{len(hits)} results for {text!r} after "
                f"{time.perf_counter() - started:.2f} s (mode {chosen})"
            )
    if refused:
        raise typer.Exit(ExitCode.USAGE)
    if not found:
        raise typer.Exit(ExitCode.NOT_FOUND)


def _checked_lines(lines: Iterator[QuestionLine], refused: list[str]) -> Iterator[str]:
    """The usable lines' text; each refused line is said on stderr and remembered."""
    for line in lines:
        if line.text is None:
            output.error(f"stdin {line.problem}; skipped")
            refused.append(line.problem or "")
        else:
            yield line.text


@app.command("eval")
def evaluate(
    dataset: Annotated[
        Path, typer.Argument(help="A BEIR data set: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv.")
    ],
    split: Annotated[str, typer.Option("--split", help="Which qrels/SPLIT.tsv to score.")] = (
        "test"
    ),
    modes: Annotated[
        Optional[list[Mode]],  # noqa: UP045
        typer.Option("--mode", help="Retrieval mode to score (repeatable) [default: all three]."),
    ] = None,
    max_queries: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--max-queries", help="Score only the split's first N queries (N >= 1)."),
    ] = None,
    max_docs: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--max-docs", help="Reduced corpus: the judged documents plus others up to N (N >= 1)."
        ),
    ] = None,
    work_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--work-dir",
            file_okay=False,
            help="Keep the corpus and store here; a re-run embeds nothing again "
            "[default: a temporary folder].",
            show_default=False,
        ),
    ] = None,
    embed_model: EmbedOpt = None,
    batch_size: BatchOpt = None,
    threads: ThreadsOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure retrieval on a BEIR data set: nDCG@10, recall, MRR, HNSW recall, latency."""
    from ragcli.build import BuildSettings
    from ragcli.steps.evaluate import EvalOptions
    from ragcli.steps.evaluate import evaluate as run_eval
    from ragcli.steps.search import RetrievalSettings

    effective = _settings(
        config,
        embedder=embed_model,
        batch_size=batch_size,
        threads=threads,
        max_queries=max_queries,
        max_docs=max_docs,
    )
    chosen = tuple(m.value for m in modes) if modes else RETRIEVAL_MODES
    options = EvalOptions(
        dataset=dataset,
        modes=tuple(dict.fromkeys(chosen)),
        build=BuildSettings(effective.chosen("embedder"), None, None, effective.threads, int8=True),
        settings=RetrievalSettings(),
        split=split,
        max_queries=effective.max_queries,
        max_documents=effective.max_docs,
        work_dir=work_dir,
        batch_size=effective.batch_size,
    )
    with output.ProgressBar(quiet) as progress:
        report = run_eval(options, progress)
    if json_out:
        output.print_json(output.eval_json(report))
    else:
        output.write(output.format_eval(report))


@app.command("config")
def config_command(
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the effective settings and where each comes from: flag, env, config file, default."""
    effective = _settings(config)
    if json_out:
        output.print_json(output.settings_json(effective))
    else:
        output.write(output.format_settings(effective))


@app.command()
def status(store: StoreOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Show what the store holds: documents, chunks, vectors, index, models."""
    from ragcli.steps.status import status as run_status

    effective = _settings(config, store=store)
    report = run_status(effective.store)
    llm = effective.model
    if json_out:
        output.print_json(output.status_json(report, llm))
    else:
        output.write(output.format_status(report, llm))


@app.command()
def doctor(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check; repair nothing (no lock taken).")
    ] = False,
    batch_size: BatchOpt = None,
    threads: ThreadsOpt = None,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check the database, keyword index, vectors and vector index; repair what is stored.

    Exits 0 when the store is healthy or fully repaired, 9 when damage remains.
    """
    from ragcli.steps.doctor import DoctorOptions
    from ragcli.steps.doctor import doctor as run_doctor

    effective = _settings(config, store=store, batch_size=batch_size, threads=threads)
    options = DoctorOptions(
        effective.store, not check, effective.threads, effective.batch_size, wait=not no_wait
    )
    with output.ProgressBar(quiet) as progress:
        report = run_doctor(options, progress)
    if json_out:
        output.print_json(output.doctor_json(report))
    else:
        output.write(output.format_doctor(report))
    if not report.healthy:
        raise typer.Exit(ExitCode.STORE_CORRUPT)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into a message and an exit code."""
    try:
        code = app(args=argv, prog_name="rag", standalone_mode=False)
        if code == ExitCode.INTERRUPTED:  # Typer turns Ctrl-C into a silent Exit(130)
            output.error("interrupted")
    except RagError as exc:
        output.error(str(exc))
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # Click's usage errors, as Typer re-exports them
        _usage_error(exc)
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        output.error("interrupted")
        code = ExitCode.INTERRUPTED
    except (output.OutputClosed, BrokenPipeError):
        _silence_broken_pipe()
        code = ExitCode.OK
    except Exception as exc:  # a bug: say so in one line, never a traceback
        output.error(f"internal error: {type(exc).__name__}: {exc}")
        code = ExitCode.INTERNAL
    sys.exit(int(code) if isinstance(code, int) else 0)


def _usage_error(exc: typer.TyperException) -> None:
    """Say a malformed command line in one line; help only where it was asked for."""
    # Typer vendors its own Click: its exception classes are known by shape, not import.
    context = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "ctx"):
        exc.show()  # type: ignore[attr-defined]
        return
    where = getattr(context, "command_path", "") or "rag"
    output.error(f"{exc.format_message()} (see '{where} --help')")


def _silence_broken_pipe() -> None:
    """Point stdout at /dev/null so Python's exit flush raises no second BrokenPipeError."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
