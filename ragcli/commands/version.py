"""`rag --version [--json]`: ragcli's version, and with --json every engine's."""

from __future__ import annotations

from typing import Annotated

import typer

from ragcli import output


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
