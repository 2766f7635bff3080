"""`rag chat`: a conversation with the store, at a terminal or over piped lines."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ragcli import output
from ragcli.commands.common import (
    ConfigOpt,
    EmbedUrlOpt,
    LlmApi,
    ModeOpt,
    PipedLines,
    QuietOpt,
    StoresOpt,
    StrategyChoice,
    ThreadsOpt,
    VerboseOpt,
    resolve_settings,
    setting_option,
    stdin_bytes,
)
from ragcli.errors import ExitCode


def chat(
    store: StoresOpt = None,
    config: ConfigOpt = None,
    model: Annotated[Optional[str], setting_option("model")] = None,  # noqa: UP045
    llm_url: Annotated[Optional[str], setting_option("llm_url")] = None,  # noqa: UP045
    llm_model: Annotated[Optional[str], setting_option("llm_model")] = None,  # noqa: UP045
    llm_api: Annotated[Optional[LlmApi], setting_option("llm_api")] = None,  # noqa: UP045
    top_k: Annotated[Optional[int], setting_option("top_k")] = None,  # noqa: UP045
    mode: ModeOpt = None,
    embed_url: EmbedUrlOpt = None,
    max_tokens: Annotated[Optional[int], setting_option("max_tokens")] = None,  # noqa: UP045
    temperature: Annotated[Optional[float], setting_option("temperature")] = None,  # noqa: UP045
    context_tokens: Annotated[
        Optional[int],  # noqa: UP045
        setting_option("context_tokens"),
    ] = None,
    min_score: Annotated[Optional[float], setting_option("min_score")] = None,  # noqa: UP045
    strategy: Annotated[
        Optional[StrategyChoice],  # noqa: UP045
        setting_option("strategy"),
    ] = None,
    answer_threshold: Annotated[
        Optional[float],  # noqa: UP045
        setting_option("answer_threshold"),
    ] = None,
    min_confidence: Annotated[
        Optional[float],  # noqa: UP045
        setting_option("min_confidence"),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help='Say "The context does not say." rather than give an '
            "answer whose names or numbers are in no passage.",
        ),
    ] = False,
    threads: ThreadsOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print each answer as one JSON line (a turn).")
    ] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Talk with the store's documents: follow-up questions read in the light of the earlier ones.

    At a terminal: answers as they form, /help for the commands, Ctrl-C stops an answer,
    Ctrl-D leaves. Piped: one question a line, as one conversation, printed as `ask -` does.
    """
    from ragcli.chat.session import ChatSession

    output.show_details(verbose and not quiet)
    at_terminal = sys.stdin is not None and sys.stdin.isatty()
    if not at_terminal:
        stdin_bytes("questions")  # closed: say so now, before any model loads
    effective = resolve_settings(
        config,
        several_stores=True,
        store=store,
        model=model,
        llm_url=llm_url,
        llm_model=llm_model,
        llm_api=None if llm_api is None else llm_api.value,
        top_k=top_k,
        mode=None if mode is None else mode.value,
        embed_url=embed_url,
        max_tokens=max_tokens,
        temperature=temperature,
        context_tokens=context_tokens,
        min_score=min_score,
        strategy=None if strategy is None else strategy.value,
        answer_threshold=answer_threshold,
        min_confidence=min_confidence,
        threads=threads,
    )
    with ChatSession(effective, strict=strict) as session:
        session.load()
        if verbose and not quiet:
            output.note(
                f"loaded store and models in {session.library.timings.load_s:.2f} s "
                f"({session.library.llm_spec}, mode {effective.mode}, "
                f"strategy {effective.strategy})"
            )
        if at_terminal:
            from ragcli.chat.terminal import run_terminal

            run_terminal(session, json_out, quiet, verbose)
            return
        from ragcli.chat.piped import run_piped

        refused = run_piped(session, PipedLines("question"), json_out)
    if refused:
        raise typer.Exit(ExitCode.USAGE)
