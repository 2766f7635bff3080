"""`rag search`: the chunks that match a query, without an LLM."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Optional

import typer

from ragcli import output
from ragcli.commands.common import (
    ConfigOpt,
    EmbedUrlOpt,
    ModeOpt,
    PipedLines,
    StoresOpt,
    ThreadsOpt,
    VerboseOpt,
    from_stdin,
    resolve_settings,
    setting_option,
)
from ragcli.errors import ExitCode
from ragcli.text.questions import check_question


def search(
    query: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="What to look for; '-' or none with piped stdin: one per line."),
    ] = None,
    store: StoresOpt = None,
    config: ConfigOpt = None,
    top_k: Annotated[Optional[int], setting_option("search_k")] = None,  # noqa: UP045
    mode: ModeOpt = None,
    embed_url: EmbedUrlOpt = None,
    threads: ThreadsOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per result (NDJSON).")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Find the chunks that match a query, no LLM: `path:line: snippet` lines, best first.

    With several stores, results are merged by score and name their store.
    """
    from ragcli.library import Library

    output.show_details(verbose)
    effective = resolve_settings(
        config,
        several_stores=True,
        store=store,
        search_k=top_k,
        mode=mode,
        embed_url=embed_url,
        threads=threads,
    )
    lines = PipedLines("query") if from_stdin(query, "QUERY", "queries") else None
    if lines is not None:
        queries: Iterator[str] = (text for _, text in lines)
    else:
        assert query is not None
        queries = iter([check_question(query, "query")])
    chosen = effective.mode
    several = len(effective.stores) > 1
    found = False
    started = time.perf_counter()
    with Library(effective) as library:
        library.load()  # the stores open before the first query is read
        for text in queries:
            result = library.search(text)
            found = found or bool(result.hits)
            for rank, hit in enumerate(result.hits, start=1):
                if json_out:
                    output.print_json(output.hit_json(hit, result.query, rank, chosen))
                else:
                    output.write(output.format_hit(hit, result.query, several))
            if verbose:
                output.note(
                    f"{len(result.hits)} results for {result.query!r} after "
                    f"{time.perf_counter() - started:.2f} s (mode {chosen})"
                )
    if lines is not None and lines.refused:
        raise typer.Exit(ExitCode.USAGE)
    if not found:
        raise typer.Exit(ExitCode.NOT_FOUND)
