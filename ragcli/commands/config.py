"""`rag config`: the effective settings and where each comes from."""

from __future__ import annotations

from ragcli import output
from ragcli.commands.common import ConfigOpt, JsonOpt, resolve_settings


def config_command(
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the effective settings and where each comes from: flag, env, config file, default."""
    effective = resolve_settings(config, several_stores=True)
    if json_out:
        output.print_json(output.settings_json(effective))
    else:
        output.write(output.format_settings(effective))
