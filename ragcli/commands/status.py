"""`rag status`: what a store holds."""

from __future__ import annotations

from ragcli import output
from ragcli.commands.common import ConfigOpt, JsonOpt, StoreOpt, resolve_settings


def status(store: StoreOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Show what the store holds: documents, chunks, vectors, index, models."""
    from ragcli.library import Library

    effective = resolve_settings(config, store=store)
    with Library(effective) as library:
        report = library.status()
    llm = effective.model
    if json_out:
        output.print_json(output.status_json(report, llm))
    else:
        output.write(output.format_status(report, llm))
