"""`rag stores`: the stores in the user data directory."""

from __future__ import annotations

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
