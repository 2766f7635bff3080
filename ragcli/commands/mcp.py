"""`rag mcp`: serve the store to coding agents and chat clients over MCP (stdio)."""

from __future__ import annotations

from ragcli.commands.common import ConfigOpt, StoreOpt, resolve_settings, stdin_bytes
from ragcli.errors import ModelError


def mcp(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """Serve search, ask, sources and status as MCP tools on stdin/stdout (needs ragcli[mcp]).

    Models load on the first call that needs them and stay loaded; each call reads the store
    as it is then. Settings (model, mode, top-k...) come from RAG_* variables and the config
    file, as for the other commands.
    """
    from ragcli.library import Library

    effective = resolve_settings(config, store=store)
    stdin_bytes("MCP requests")  # closed (`<&-`): said now, not as a crash in the SDK
    try:
        import mcp  # noqa: F401 - only to say in one line that the SDK is missing
    except ImportError as exc:
        raise ModelError(
            "rag mcp needs the MCP SDK, which is not installed", "pip install 'ragcli[mcp]'"
        ) from exc
    from ragcli.mcp_server import serve

    serve(Library(effective))
