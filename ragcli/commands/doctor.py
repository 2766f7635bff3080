"""`rag doctor`: check a store and repair what can be repaired."""

from __future__ import annotations

from typing import Annotated

import typer

from ragcli import output
from ragcli.commands.common import (
    BatchOpt,
    ConfigOpt,
    EmbedUrlOpt,
    JsonOpt,
    NoWaitOpt,
    QuietOpt,
    StoreOpt,
    ThreadsOpt,
    resolve_settings,
)
from ragcli.errors import ExitCode


def doctor(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check; repair nothing (no lock taken).")
    ] = False,
    batch_size: BatchOpt = None,
    embed_url: EmbedUrlOpt = None,
    threads: ThreadsOpt = None,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check the database, keyword index, vectors and vector index; repair what is stored.

    Exits 0 when the store is healthy or fully repaired, 9 when damage remains.
    """
    from ragcli.options import embed_server_options
    from ragcli.steps.doctor import DoctorOptions
    from ragcli.steps.doctor import doctor as run_doctor

    effective = resolve_settings(
        config, store=store, batch_size=batch_size, threads=threads, embed_url=embed_url
    )
    options = DoctorOptions(
        effective.store,
        not check,
        effective.threads,
        effective.batch_size,
        wait=not no_wait,
        embed_server=embed_server_options(effective),
        vectors_token=effective.milvus_token,
    )
    with output.ProgressBar(quiet) as progress:
        report = run_doctor(options, progress)
    if json_out:
        output.print_json(output.doctor_json(report))
    else:
        output.write(output.format_doctor(report))
    if not report.healthy:
        raise typer.Exit(ExitCode.STORE_CORRUPT)
