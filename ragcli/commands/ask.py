"""`rag ask`: answer questions from the store with cited sources."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ragcli import output
from ragcli.commands.common import (
    AnswerThresholdOpt,
    ConfigOpt,
    ContextTokensOpt,
    EmbedUrlOpt,
    JsonOpt,
    LlmApiOpt,
    LlmModelOpt,
    LlmUrlOpt,
    MaxTokensOpt,
    MinConfidenceOpt,
    MinScoreOpt,
    ModelOpt,
    ModeOpt,
    PipedLines,
    QuietOpt,
    StoresOpt,
    StrategyOpt,
    StrictOpt,
    TemperatureOpt,
    ThreadsOpt,
    TopKOpt,
    VerboseOpt,
    from_stdin,
    resolve_settings,
)
from ragcli.errors import ExitCode, UsageError
from ragcli.text.questions import check_question

if TYPE_CHECKING:
    from ragcli.library import Library


def ask(
    question: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="The question; '-' or none with piped stdin: one per line."),
    ] = None,
    store: StoresOpt = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    llm_url: LlmUrlOpt = None,
    llm_model: LlmModelOpt = None,
    llm_api: LlmApiOpt = None,
    top_k: TopKOpt = None,
    mode: ModeOpt = None,
    embed_url: EmbedUrlOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    context_tokens: ContextTokensOpt = None,
    min_score: MinScoreOpt = None,
    strategy: StrategyOpt = None,
    answer_threshold: AnswerThresholdOpt = None,
    min_confidence: MinConfidenceOpt = None,
    strict: StrictOpt = False,
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
    """Answer a question from the store's documents and list the sources used.

    With several stores, their hits are merged by score; sources name their store.
    """
    from ragcli.library import Library

    output.show_details(verbose and not quiet)
    batch = from_stdin(question, "QUESTION", "questions")
    effective = resolve_settings(
        config,
        several_stores=True,
        store=store,
        model=model,
        llm_url=llm_url,
        llm_model=llm_model,
        llm_api=llm_api,
        top_k=top_k,
        mode=mode,
        embed_url=embed_url,
        max_tokens=max_tokens,
        temperature=temperature,
        context_tokens=context_tokens,
        min_score=min_score,
        strategy=strategy,
        answer_threshold=answer_threshold,
        min_confidence=min_confidence,
        threads=threads,
    )
    if not batch:
        assert question is not None
        question = check_question(question)
    style = "stream" if stream_json else "json" if json_out else "text"
    reply = _context if context_only else _answer
    with Library(effective, strict=strict) as library:
        library.load(answering=True)  # before the first question is read
        if verbose and not quiet:
            output.note(
                f"loaded store and models in {library.timings.load_s:.2f} s "
                f"({library.llm_spec}, mode {effective.mode}, "
                f"strategy {effective.strategy})"
            )
        if batch:
            refused = _ask_each(library, reply, style, verbose and not quiet)
        else:
            assert question is not None
            answered = reply(library, question, style, heading=False)
            _timings(library, verbose and not quiet)
    if batch and refused:
        raise typer.Exit(ExitCode.USAGE)
    if not batch and not answered:
        raise typer.Exit(ExitCode.NOT_FOUND)


Reply = Callable[["Library", str, str, bool], bool]


def _ask_each(library: Library, reply: Reply, style: str, verbose: bool) -> int:
    """Answer each question piped in; return how many lines were refused."""
    lines, first = PipedLines("question"), True
    for number, text in lines:
        if not first and style == "text":
            output.write("\n")
        first = False
        try:
            reply(library, text, style, True)
        except UsageError as exc:  # this question cannot be asked; the next may be
            lines.refuse(number, exc)
            continue
        _timings(library, verbose)
    return lines.refused


def _timings(library: Library, verbose: bool) -> None:
    if verbose and library.timings.per_question:
        t = library.timings
        output.note(
            f"question took {t.per_question[-1]:.2f} s (total retrieval "
            f"{t.retrieve_s * 1000:.0f} ms, generation {t.generate_s:.2f} s)"
        )


def _answer(library: Library, question: str, style: str, heading: bool) -> bool:
    renderer = output.answer_renderer(style, heading, len(library.stores) > 1)
    renderer.begin(question)
    answer = library.ask(question, on_text=renderer.on_text)
    renderer.end(question, answer)
    return answer.answerable


def _context(library: Library, question: str, style: str, heading: bool) -> bool:
    parts = library.context(question)
    output.print_context(question, parts, as_json=style != "text")
    return bool(parts.passages)
