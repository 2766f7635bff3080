"""`rag sources` and `rag rm`: the stored documents listed, and removed."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ragcli import output
from ragcli.commands.common import (
    ConfigOpt,
    JsonOpt,
    NoWaitOpt,
    QuietOpt,
    StoreOpt,
    resolve_settings,
)


def sources(store: StoreOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """List the stored documents with their chunk counts."""
    from ragcli.library import Library

    with Library(resolve_settings(config, store=store)) as library:
        documents = library.sources()
    if json_out:
        output.print_json([output.document_json(d) for d in documents])
    else:
        output.write(output.format_documents(documents))


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
    from ragcli.library import Library

    note = (lambda _: None) if quiet else output.note
    with Library(resolve_settings(config, store=store)) as library:
        result = library.remove(paths or [], everything=everything, wait=not no_wait, on_wait=note)
    if json_out:
        output.print_json({"removed": result.paths, "indexed": result.indexed})
    else:
        output.write(
            f"removed {len(result.paths)} documents; index holds {result.indexed} vectors\n"
        )
