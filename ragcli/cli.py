"""The `rag` command: parse flags, call one step, render the result."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ragcli import output

if TYPE_CHECKING:
    from ragcli.records import ChunkingSettings, Manifest
    from ragcli.steps.ask import Asker
from ragcli.errors import ExitCode, InputNotFoundError, RagError
from ragcli.settings import (
    DEFAULT_CONTEXT_TOKENS,
    DEFAULT_EMBED_BATCH,
    DEFAULT_EMBEDDER,
    DEFAULT_LLM,
    DEFAULT_MIN_SCORE,
    DEFAULT_MODE,
    DEFAULT_SEARCH_K,
    DEFAULT_TOP_K,
    RETRIEVAL_MODES,
    STORE_ENV,
    default_store_dir,
)

EXIT_CODES = """Exit codes: 0 ok; 1 internal error; 2 usage error or settings that disagree
with the store; 3 no store or empty store; 4 input path not found; 5 model missing, corrupt
or failed; 6 finished but some files were skipped; 7 store locked by another writer (--no-wait);
8 nothing relevant found; 9 store unreadable; 130 interrupted."""

app = typer.Typer(
    name="rag",
    help="Ask questions about your documents, answered by local models with cited sources.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Options shared by several commands, declared once.
StoreOpt = Annotated[
    Optional[Path],  # noqa: UP045 - Typer needs Optional on Python 3.10
    typer.Option(
        "--store", envvar=STORE_ENV, help="Store directory [default: the user data dir].",
        file_okay=False, show_default=False,
    ),
]
ThreadsOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--threads", min=1, help="CPU threads [default: all cores].", show_default=False),
]
EmbedOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--embed-model",
        help=f"Sentence-transformers folder for a new store [default: {DEFAULT_EMBEDDER}]. "
        "An existing store always uses the embedder it was built with.",
        show_default=False,
    ),
]
BatchOpt = Annotated[
    int, typer.Option("--batch-size", min=1, help="Chunks embedded per batch.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Exit 7 at once if another process writes the store.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes.")]
Mode = Enum("Mode", {mode: mode for mode in RETRIEVAL_MODES}, type=str)  # type: ignore[misc]
_DEFAULT_MODE = Mode(DEFAULT_MODE)
ModeOpt = Annotated[
    Mode,
    typer.Option(
        "--mode", help="Retrieval: keyword (BM25) and dense (embeddings) fused, or just one."
    ),
]


def _store(store: Path | None) -> Path:
    return store if store is not None else default_store_dir()


@app.command()
def ingest(
    paths: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Argument(help="Files and directories (recursive).", show_default=False),
    ] = None,
    store: StoreOpt = None,
    files_from: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--files-from", help="Read more paths from FILE, one a line ('-': stdin)."),
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
    embed_model: EmbedOpt = None,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Embed and index right away.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added, changed, removed.")
    ] = False,
    chunk_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=16, help="Target chunk size in word pieces, for a new store [200]."),
    ] = None,
    overlap_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=0, help="Overlap between chunks in word pieces, new store [32]."),
    ] = None,
    batch_size: BatchOpt = DEFAULT_EMBED_BATCH,
    threads: ThreadsOpt = None,
    no_wait: NoWaitOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Bring the store in step with files and folders: add new, replace changed, drop gone."""
    from ragcli.discovery import DiscoveryOptions
    from ragcli.steps.ingest import IngestOptions
    from ragcli.steps.ingest import ingest as run_ingest
    from ragcli.steps.opening import BuildSettings

    targets = list(paths or [])
    if files_from is not None:
        targets += _read_path_list(files_from, null)
    if not targets:
        raise typer.BadParameter("give PATH... or --files-from FILE", param_hint="PATH")
    options = IngestOptions(
        paths=tuple(targets),
        store_dir=_store(store),
        build=BuildSettings(embed_model, _chunking(chunk_tokens, overlap_tokens), None, threads),
        defaults=_default_manifest(),
        discovery=DiscoveryOptions(tuple(include or ()), tuple(exclude or ())),
        index=index,
        batch_size=batch_size,
        dry_run=dry_run,
        wait=not no_wait,
    )
    with output.ProgressBar(quiet) as progress:
        result = run_ingest(options, progress)
    if not quiet:
        for skipped in result.report.skipped:
            if not skipped.failed:
                output.note(f"skipped {skipped.path}: {skipped.reason}")
    if result.plan is not None:
        output.write(output.format_plan(result.plan))
        return
    output.write(output.format_ingest(result.report, result.index))
    if result.report.failed:
        raise typer.Exit(ExitCode.FILES_SKIPPED)


def _read_path_list(name: str, null: bool) -> list[Path]:
    from ragcli.discovery import read_path_list

    if name == "-":
        return read_path_list(sys.stdin.buffer, null)
    try:
        with open(name, "rb") as handle:
            return read_path_list(handle, null)
    except OSError as exc:
        raise InputNotFoundError(f"cannot read --files-from {name}: {exc.strerror}") from exc


def _chunking(chunk_tokens: int | None, overlap_tokens: int | None) -> ChunkingSettings | None:
    from ragcli.records import ChunkingSettings

    if chunk_tokens is None and overlap_tokens is None:
        return None
    base = ChunkingSettings()
    return ChunkingSettings(
        chunk_tokens if chunk_tokens is not None else base.chunk_tokens,
        overlap_tokens if overlap_tokens is not None else base.overlap_tokens,
    )


@app.command("index")
def index_command(
    store: StoreOpt = None,
    embed_model: EmbedOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the index from stored vectors.")
    ] = False,
    batch_size: BatchOpt = DEFAULT_EMBED_BATCH,
    threads: ThreadsOpt = None,
    no_wait: NoWaitOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Embed every chunk not yet embedded and update the vector index."""
    from ragcli.steps.index import IndexOptions
    from ragcli.steps.index import index as run_index
    from ragcli.steps.opening import BuildSettings, check_embedder

    options = IndexOptions(_store(store), BuildSettings(embed_model, None, None, threads),
                           batch_size, rebuild, wait=not no_wait)
    if embed_model is not None:
        check_embedder(options.store_dir, embed_model)
    with output.ProgressBar(quiet) as progress:
        report = run_index(options, progress)
    output.write(output.format_index(report) + "\n")


@app.command()
def compact(store: StoreOpt = None, no_wait: NoWaitOpt = False, quiet: QuietOpt = False) -> None:
    """Rebuild the index without removed chunks and drop vectors nothing uses."""
    from ragcli.steps.index import IndexOptions
    from ragcli.steps.index import compact as run_compact
    from ragcli.steps.opening import BuildSettings

    options = IndexOptions(_store(store), BuildSettings(), wait=not no_wait)
    with output.ProgressBar(quiet) as progress:
        report = run_compact(options, progress)
    output.write(output.format_index(report) + "\n")


@app.command()
def sources(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """List the stored documents with their chunk counts."""
    from ragcli.steps.documents import list_documents

    documents = list_documents(_store(store))
    if json_out:
        output.print_json([output.document_json(d) for d in documents])
    else:
        output.write(output.format_documents(documents))


@app.command()
def rm(
    paths: Annotated[list[Path], typer.Argument(help="Stored files, or folders to empty.")],
    store: StoreOpt = None,
    no_wait: NoWaitOpt = False,
) -> None:
    """Remove documents (and everything stored under a folder) from the store."""
    from ragcli.steps.documents import remove_documents

    result = remove_documents(_store(store), paths, not no_wait, output.note)
    output.write(f"removed {len(result.paths)} documents; index holds {result.indexed} vectors\n")


@app.command()
def ask(
    question: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="The question; '-' or none with piped stdin: one per line."),
    ] = None,
    store: StoreOpt = None,
    model: Annotated[
        str, typer.Option("--model", help="A .gguf file [default: bundled Gemma 3 270M].")
    ] = DEFAULT_LLM,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Chunks retrieved.")] = (
        DEFAULT_TOP_K
    ),
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Longest answer, in tokens.")
    ] = 256,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, help="Sampling temperature.")
    ] = 0.0,
    context_tokens: Annotated[
        int, typer.Option("--context-tokens", min=256, help="Model context window.")
    ] = DEFAULT_CONTEXT_TOKENS,
    min_score: Annotated[
        float,
        typer.Option("--min-score", help="Best cosine score below which nothing is relevant."),
    ] = DEFAULT_MIN_SCORE,
    mode: ModeOpt = _DEFAULT_MODE,
    context_only: Annotated[
        bool,
        typer.Option("--context-only", help="Print the context the model would get; no LLM run."),
    ] = False,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer a question from the store's documents and list the sources used."""
    from ragcli.backends.llms import LlmOptions
    from ragcli.records import GenerationSettings
    from ragcli.settings import model_cache_dir
    from ragcli.steps.ask import Asker, AskOptions
    from ragcli.steps.search import RetrievalSettings

    batch = question == "-" or (question is None and not sys.stdin.isatty())
    if question is None and not batch:
        raise typer.BadParameter(
            "give a QUESTION, or '-' to read questions from stdin", param_hint="QUESTION"
        )
    options = AskOptions(
        store_dir=_store(store),
        llm_spec=model,
        llm=LlmOptions(context_tokens=context_tokens, threads=threads),
        cache_dir=model_cache_dir(),
        generation=GenerationSettings(max_tokens=max_tokens, temperature=temperature),
        top_k=top_k,
        min_score=min_score,
        retrieval=RetrievalSettings(mode=mode.value),
    )
    reply = _context if context_only else _answer
    with Asker(options) as asker:
        if not batch:
            assert question is not None
            if not reply(asker, question, json_out, heading=False):
                raise typer.Exit(ExitCode.NOT_FOUND)
            return
        first = True
        for line in sys.stdin:
            if line.strip():
                if not first and not json_out:
                    output.write("\n")
                reply(asker, line.strip(), json_out, heading=True)
                first = False


def _answer(asker: Asker, question: str, json_out: bool, heading: bool) -> bool:
    from ragcli.steps.ask import cited_numbers

    if json_out:
        answer = asker.ask(question)
        cited = cited_numbers(answer.text, answer.passages)
        output.print_json(output.answer_json(answer, cited))
        return answer.answerable
    if heading:
        output.write(f"Q: {question}\n")
    answer = asker.ask(question, on_text=output.write)
    cited = cited_numbers(answer.text, answer.passages)
    output.write("\n" + output.format_sources(answer.passages, cited))
    return answer.answerable


def _context(asker: Asker, question: str, json_out: bool, heading: bool) -> bool:
    parts = asker.context(question)
    if json_out:
        output.print_json(output.context_json(question, parts.context, parts.passages))
    elif parts.passages:
        output.write(parts.context + "\n")
    else:
        output.note(f"nothing relevant found for: {question}")
    return bool(parts.passages)


@app.command()
def search(
    query: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="What to look for; '-' or none with piped stdin: one per line."),
    ] = None,
    store: StoreOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Results per query.")] = (
        DEFAULT_SEARCH_K
    ),
    mode: ModeOpt = _DEFAULT_MODE,
    threads: ThreadsOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per result (NDJSON).")
    ] = False,
) -> None:
    """Find the chunks that match a query, no LLM: `path:line: snippet` lines, best first."""
    from ragcli.steps.search import RetrievalSettings, SearchOptions
    from ragcli.steps.search import search as run_search

    batch = query == "-" or (query is None and not sys.stdin.isatty())
    if query is None and not batch:
        raise typer.BadParameter("give a QUERY, or '-' to read queries from stdin",
                                 param_hint="QUERY")
    queries = (line.strip() for line in sys.stdin if line.strip()) if batch else iter([query])
    options = SearchOptions(_store(store), RetrievalSettings(mode=mode.value), top_k, threads)
    found = False
    for text, hits in run_search(options, queries):  # type: ignore[arg-type]
        found = found or bool(hits)
        for rank, hit in enumerate(hits, start=1):
            if json_out:
                output.print_json(output.hit_json(hit, text, rank, mode.value))
            else:
                output.write(output.format_hit(hit, text))
    if not found:
        raise typer.Exit(ExitCode.NOT_FOUND)


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
        typer.Option("--max-queries", min=1, help="Score only the split's first N queries."),
    ] = None,
    max_docs: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--max-docs", min=1,
                     help="Reduced corpus: the judged documents plus others up to N."),
    ] = None,
    work_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--work-dir", file_okay=False,
                     help="Keep the corpus and store here; a re-run embeds nothing again "
                     "[default: a temporary folder].", show_default=False),
    ] = None,
    embed_model: EmbedOpt = None,
    batch_size: BatchOpt = DEFAULT_EMBED_BATCH,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure retrieval on a BEIR data set: nDCG@10, recall, MRR, HNSW recall, latency."""
    from ragcli.steps.evaluate import EvalOptions
    from ragcli.steps.evaluate import evaluate as run_eval
    from ragcli.steps.opening import BuildSettings

    chosen = tuple(m.value for m in modes) if modes else RETRIEVAL_MODES
    options = EvalOptions(
        dataset=dataset,
        modes=tuple(dict.fromkeys(chosen)),
        build=BuildSettings(embed_model, None, None, threads),
        defaults=_default_manifest(),
        split=split,
        max_queries=max_queries,
        max_documents=max_docs,
        work_dir=work_dir,
        batch_size=batch_size,
    )
    with output.ProgressBar(quiet) as progress:
        report = run_eval(options, progress)
    if json_out:
        output.print_json(output.eval_json(report))
    else:
        output.write(output.format_eval(report))


@app.command()
def status(store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """Show what the store holds: documents, chunks, vectors, index, models."""
    from ragcli.steps.status import status as run_status

    report = run_status(_store(store))
    if json_out:
        output.print_json(output.status_json(report, DEFAULT_LLM))
    else:
        output.write(output.format_status(report, DEFAULT_LLM))


def _default_manifest() -> Manifest:
    from ragcli.records import Manifest
    from ragcli.settings import DEFAULT_CHUNKING, DEFAULT_HNSW
    from ragcli.store import FORMAT_VERSION

    return Manifest(FORMAT_VERSION, DEFAULT_EMBEDDER, 0, 0, True, DEFAULT_CHUNKING, DEFAULT_HNSW)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into a message and an exit code."""
    try:
        code = app(args=argv, prog_name="rag", standalone_mode=False)
    except RagError as exc:
        output.error(str(exc))
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # Click's usage errors, as Typer re-exports them
        exc.show()  # type: ignore[attr-defined]
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        output.error("interrupted")
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        _silence_broken_pipe()
        code = ExitCode.OK
    except Exception as exc:  # a bug: say so in one line, never a traceback
        output.error(f"internal error: {type(exc).__name__}: {exc}")
        code = ExitCode.INTERNAL
    sys.exit(int(code) if isinstance(code, int) else 0)


def _silence_broken_pipe() -> None:
    """Point stdout at /dev/null so Python's exit flush raises no second BrokenPipeError."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
