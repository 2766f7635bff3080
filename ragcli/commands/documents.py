"""`rag sources` and `rag rm`: list and remove stored documents."""

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
    from ragcli.steps.documents import list_documents

    documents = list_documents(resolve_settings(config, store=store).store)
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
    from ragcli.steps.documents import remove_documents

    store_dir = resolve_settings(config, store=store).store
    note = (lambda _: None) if quiet else output.note
    result = remove_documents(store_dir, paths or [], not no_wait, note, everything)
    if json_out:
        output.print_json({"removed": result.paths, "indexed": result.indexed})
    else:
        output.write(
            f"removed {len(result.paths)} documents; index holds {result.indexed} vectors\n"
        )
