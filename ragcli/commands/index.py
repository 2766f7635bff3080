"""`rag index` and `rag compact`: embed what is missing, keep the vector index in step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ragcli import output
from ragcli.commands.common import (
    BatchOpt,
    ConfigOpt,
    EmbedOpt,
    EmbedUrlOpt,
    Fp32Opt,
    JsonOpt,
    NoWaitOpt,
    QuietOpt,
    RayAddressOpt,
    RayOpt,
    RayWorkersOpt,
    StoreOpt,
    ThreadsOpt,
    resolve_settings,
)

if TYPE_CHECKING:
    from ragcli.records import IndexReport


def index_command(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    embed_model: EmbedOpt = None,
    embed_url: EmbedUrlOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the index from stored vectors.")
    ] = False,
    batch_size: BatchOpt = None,
    threads: ThreadsOpt = None,
    fp32: Fp32Opt = False,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    ray_workers: RayWorkersOpt = None,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Embed every chunk not yet embedded and update the vector index."""
    from ragcli.build import check_embedder
    from ragcli.options import build_settings
    from ragcli.steps.index import IndexOptions
    from ragcli.steps.index import index as run_index

    effective = resolve_settings(
        config,
        store=store,
        embedder=embed_model,
        embed_url=embed_url,
        batch_size=batch_size,
        threads=threads,
        ray_address=ray_address,
        ray_workers=ray_workers,
    )
    build = build_settings(effective, int8=not fp32, ray=ray, new_store=False)
    options = IndexOptions(effective.store, build, effective.batch_size, rebuild, wait=not no_wait)
    if build.embedder is not None or build.embed_server is not None:
        check_embedder(options.store_dir, build)
    with output.ProgressBar(quiet) as progress:
        report = run_index(options, progress)
    _print_index(report, json_out)


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

    effective = resolve_settings(config, store=store)
    options = IndexOptions(
        effective.store,
        BuildSettings.as_stored(vectors_token=effective.milvus_token),
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
