"""`rag eval`: measure retrieval on a BEIR data set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ragcli import output
from ragcli.commands.common import (
    BatchOpt,
    ConfigOpt,
    EmbedOpt,
    EmbedUrlOpt,
    JsonOpt,
    Mode,
    QuietOpt,
    ThreadsOpt,
    VectorsOpt,
    resolve_settings,
    setting_option,
)


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
    max_queries: Annotated[Optional[int], setting_option("max_queries")] = None,  # noqa: UP045
    max_docs: Annotated[Optional[int], setting_option("max_docs")] = None,  # noqa: UP045
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
    vectors: VectorsOpt = None,
    embed_url: EmbedUrlOpt = None,
    batch_size: BatchOpt = None,
    threads: ThreadsOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure retrieval on a BEIR data set: nDCG@10, recall, MRR, HNSW recall, latency."""
    from ragcli.options import build_settings, retrieval_settings
    from ragcli.retrieval.modes import RETRIEVAL_MODES
    from ragcli.steps.evaluate import EvalOptions
    from ragcli.steps.evaluate import evaluate as run_eval

    effective = resolve_settings(
        config,
        several_stores=True,  # eval builds its own store: RAG_STORE does not concern it
        embedder=embed_model,
        vectors=vectors,
        embed_url=embed_url,
        batch_size=batch_size,
        threads=threads,
        max_queries=max_queries,
        max_docs=max_docs,
    )
    chosen = tuple(m.value for m in modes) if modes else RETRIEVAL_MODES
    options = EvalOptions(
        dataset=dataset,
        modes=tuple(dict.fromkeys(chosen)),
        build=build_settings(effective, int8=True),
        settings=retrieval_settings(effective),
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
