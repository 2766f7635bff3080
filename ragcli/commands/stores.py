"""`rag stores`: the stores in the user data directory, and `rag --version`."""

from __future__ import annotations

from typing import Annotated

import typer

from ragcli import output
from ragcli.commands.common import ConfigOpt, JsonOpt, resolve_settings


def stores(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """List the stores in the user data directory: `--store NAME` opens one by name."""
    from ragcli.locations import data_dir
    from ragcli.steps.stores import list_stores

    effective = resolve_settings(config, several_stores=True)
    found = list_stores(effective.stores)
    if json_out:
        output.print_json(output.stores_json(str(data_dir()), found))
        return
    for summary in found:
        if summary.problem is not None:
            output.error(f"store {output.display_name(summary.name)}: {summary.problem}")
    if found:
        output.write(output.format_stores(found))
    else:
        where = output.display_name(str(data_dir()))
        output.note(f"no stores in {where} (rag ingest PATH --store NAME makes one)")


def version(
    show: Annotated[
        bool, typer.Option("--version", help="Print ragcli's version; with --json, every engine's.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="With --version: one JSON object of versions.")
    ] = False,
) -> None:
    """Ask questions about your documents, answered by local models with cited sources."""
    if not show:
        if json_out:
            raise typer.BadParameter(
                "give it after the command (rag search --json) or with --version",
                param_hint="--json",
            )
        return
    from ragcli.steps.version import versions

    report = versions()
    if json_out:
        output.print_json(output.version_json(report))
    else:
        output.write(output.format_version(report))
    raise typer.Exit(0)
