"""`rag serve`: answer from the store over an OpenAI-compatible HTTP API."""

from __future__ import annotations

from typing import Annotated, Optional

from ragcli import output
from ragcli.commands.common import (
    ConfigOpt,
    EmbedUrlOpt,
    LlmModelOpt,
    LlmUrlOpt,
    ModelOpt,
    ModeOpt,
    StoresOpt,
    StrategyOpt,
    ThreadsOpt,
    TopKOpt,
    VerboseOpt,
    resolve_settings,
    setting_option,
)
from ragcli.errors import ModelError, UsageError


def serve(
    store: StoresOpt = None,
    config: ConfigOpt = None,
    host: Annotated[Optional[str], setting_option("serve_host")] = None,  # noqa: UP045
    port: Annotated[Optional[int], setting_option("serve_port")] = None,  # noqa: UP045
    api_key: Annotated[Optional[str], setting_option("serve_key")] = None,  # noqa: UP045
    queue_size: Annotated[Optional[int], setting_option("serve_queue")] = None,  # noqa: UP045
    model: ModelOpt = None,
    llm_url: LlmUrlOpt = None,
    llm_model: LlmModelOpt = None,
    top_k: TopKOpt = None,
    mode: ModeOpt = None,
    strategy: StrategyOpt = None,
    embed_url: EmbedUrlOpt = None,
    threads: ThreadsOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Serve the store as an OpenAI-compatible HTTP API (needs ragcli[serve]).

    POST /v1/chat/completions answers the last user message from the store, in the light of
    the conversation before it, with the evidence and sources in the text and under
    `ragcli`; "stream": true sends server-sent events. GET /v1/models lists the store as
    the model, POST /v1/search finds chunks, GET /health says the server is up. The models
    load before it listens; SIGTERM finishes the requests in flight and exits 0.
    """
    from ragcli.library import Library

    output.show_details(verbose)
    effective = resolve_settings(
        config,
        several_stores=True,
        store=store,
        serve_host=host,
        serve_port=port,
        serve_key=api_key,
        serve_queue=queue_size,
        model=model,
        llm_url=llm_url,
        llm_model=llm_model,
        top_k=top_k,
        mode=mode,
        strategy=strategy,
        embed_url=embed_url,
        threads=threads,
    )
    if effective.serve_key is not None and not effective.serve_key.strip():
        raise UsageError("--api-key must not be empty")
    try:
        import starlette  # noqa: F401 - only to say in one line that the extra is missing
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            "rag serve needs Starlette and uvicorn, which are not installed",
            "pip install 'ragcli[serve]'",
        ) from exc
    from ragcli.http_api.server import ServeOptions
    from ragcli.http_api.server import serve as run_server

    options = ServeOptions(
        effective.serve_host,
        effective.serve_port,
        effective.serve_key,
        effective.serve_queue,
        access_log=verbose,
    )
    stores = ", ".join(output.display_path(str(path)) for path in effective.stores)
    # The server closes the library itself, on the thread its models were loaded on.
    run_server(Library(effective), options, lambda url: output.note(f"serving {stores} at {url}"))
