"""`rag chat`: a conversation with the store, at a terminal or over piped lines."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ragcli import output
from ragcli.commands.common import (
    AnswerThresholdOpt,
    ConfigOpt,
    ContextTokensOpt,
    EmbedUrlOpt,
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
    resolve_settings,
    stdin_bytes,
)
from ragcli.errors import ExitCode


def chat(
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
