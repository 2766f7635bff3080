"""`rag serve`'s server: uvicorn on one socket, the models loaded first, SIGTERM drained."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ragcli.errors import UsageError
from ragcli.library import Library


@dataclass(frozen=True)
class ServeOptions:
    """Where the server listens, who may call it and how many requests may wait."""

    host: str
    port: int
    api_key: str | None
    queue_size: int
    access_log: bool = False


def serve(library: Library, options: ServeOptions, on_listening: Callable[[str], None]) -> None:
    """Load the models, listen, and answer until SIGTERM (drained, then return) or SIGINT.

    SIGINT (Ctrl-C) drains too, then raises KeyboardInterrupt, as any command's Ctrl-C does.
    """
    import uvicorn

    from ragcli.http_api.app import build_app
    from ragcli.http_api.queue import ModelQueue

    queue = ModelQueue(options.queue_size)
    try:
        queue.run_now(lambda: library.load(answering=True))
        listening = _listen(options.host, options.port)
        config = uvicorn.Config(
            build_app(library, queue, options.api_key),
            log_config=_log_config(options.access_log),
            access_log=options.access_log,
            lifespan="off",
            server_header=False,
        )
        server = uvicorn.Server(config)
        host, port = listening.getsockname()[:2]
        on_listening(f"http://{_url_host(host)}:{port}/v1")
        # uvicorn raises a signal it drained for again once done: SIGTERM then ends here.
        previous = signal.signal(signal.SIGTERM, _drained)
        try:
            server.run(sockets=[listening])
        finally:
            signal.signal(signal.SIGTERM, previous)
            listening.close()
    finally:
        try:
            queue.run_now(library.close)
        finally:
            queue.close()


def _drained(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn drained the requests in flight: the server ends normally."""


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host and port; UsageError saying why it cannot be."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc}") from None
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        reason = exc.strerror or str(exc)
        raise UsageError(
            f"cannot listen on {host}:{port}: {reason}", "choose another --port"
        ) from None
    return listening


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logs on stderr, one plain line each; its access log only if asked for."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["stderr"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "rag serve: %(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {**logger, "level": "INFO" if access_log else "WARNING"},
            "uvicorn.access": {**logger, "level": "INFO"},
        },
    }
