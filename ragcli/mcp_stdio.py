"""`rag mcp`'s stdio transport: one JSON-RPC message a line on stdin and on stdout.

It stands in for the SDK's own (mcp.server.stdio), which reads a line whole however long
it is, drops without a reply a line it cannot parse (the client then waits forever) and
fails when the client has gone. This one reads stdin in blocks: a line longer than
MAX_LINE_BYTES is discarded as it comes, never held whole, and answered with an error; a
line that is not JSON, or not a JSON-RPC message, gets the error reply JSON-RPC
prescribes; a client that closes the pipes ends the server quietly. Like the SDK's, it
points fd 0 at /dev/null and fd 1 at stderr while it serves, so nothing else in the
process (llama.cpp included) can read the requests or write into the protocol stream.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCResponse,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError

# The longest request line read (docs/agents.md): a tool call carries a
# question or query of 4,000 characters at most, so 1 MiB leaves a wide margin.
MAX_LINE_BYTES = 1 << 20
_BLOCK_BYTES = 64 * 1024

Inbound = SessionMessage | Exception
Streams = tuple[MemoryObjectReceiveStream[Inbound], MemoryObjectSendStream[SessionMessage]]


class _TooLong:
    """Stands for a line over the limit, whose bytes were dropped as they came."""


TOO_LONG = _TooLong()


def split_lines(read: Callable[[int], bytes], limit: int) -> Iterator[bytes | _TooLong]:
    """Each line read (without its newline), or TOO_LONG once for a line over limit bytes."""
    pending = bytearray()
    dropping = False
    while block := read(_BLOCK_BYTES):
        start = 0
        while (end := block.find(b"\n", start)) >= 0:
            if not dropping:
                pending += block[start:end]
                yield TOO_LONG if len(pending) > limit else bytes(pending)
            pending.clear()
            dropping = False
            start = end + 1
        if not dropping:
            pending += block[start:]
            if len(pending) > limit:
                pending.clear()
                dropping = True
                yield TOO_LONG
    if pending:
        yield bytes(pending)


def inbound_message(line: bytes) -> SessionMessage | JSONRPCError | None:
    """The message a line holds; the error reply JSON-RPC prescribes when it holds none."""
    if not line.strip():
        return None
    # As the SDK reads stdin: bytes that are not UTF-8 become U+FFFD, so a request that
    # holds some still has its id, and its reply.
    text = line.decode("utf-8", errors="replace")
    try:
        return SessionMessage(jsonrpc_message_adapter.validate_json(text, by_name=False))
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"] if exc.errors() else str(exc)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return _error(None, PARSE_ERROR, "parse error: the line is not JSON text")
    request_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(request_id, int | str) or isinstance(request_id, bool):
        request_id = None
    return _error(request_id, INVALID_REQUEST, f"invalid request: {problem}")


def _error(request_id: int | str | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))


def encoded(message: SessionMessage) -> bytes:
    """The message as one line of UTF-8; a reply that cannot be encoded becomes an error."""
    try:
        text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
    except ValueError as exc:  # pydantic's serialization error: the client must still hear
        reply = message.message
        if not isinstance(reply, JSONRPCResponse | JSONRPCError):
            raise
        failed = _error(reply.id, INTERNAL_ERROR, f"internal error: {exc}")
        text = failed.model_dump_json(by_alias=True, exclude_unset=True)
    return (text + "\n").encode("utf-8")


@asynccontextmanager
async def stdio_streams() -> AsyncIterator[Streams]:
    """The read and write streams of a server on this process's stdin and stdout."""
    stdin, stdout = _claim_stdio()
    read_sender, read_stream = anyio.create_memory_object_stream[Inbound](0)
    write_stream, write_receiver = anyio.create_memory_object_stream[SessionMessage](0)
    try:
        async with anyio.create_task_group() as tasks:
            _start_reader(stdin, read_sender, write_stream.clone())
            tasks.start_soon(_write_messages, stdout, write_receiver, tasks)
            yield read_stream, write_stream
            tasks.cancel_scope.cancel()  # the server is done: nothing more to write
    finally:
        _release_stdio(stdin, stdout)


def _claim_stdio() -> tuple[int, int]:
    """Private copies of fd 0 and 1; fd 0 then reads /dev/null and fd 1 writes to stderr."""
    # os.dup: the lowest free descriptor, above 2 since 0-2 are open; not inherited by
    # children (PEP 446); and no fcntl, which Windows lacks.
    stdin = os.dup(0)
    stdout = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return stdin, stdout


def _release_stdio(stdin: int, stdout: int) -> None:
    """Give fd 0 and 1 back; the private stdin stays open, the reader may still block on it."""
    os.dup2(stdin, 0)
    os.dup2(stdout, 1)
    os.close(stdout)


def _start_reader(
    fd: int,
    messages: MemoryObjectSendStream[Inbound],
    replies: MemoryObjectSendStream[SessionMessage],
) -> None:
    """Read requests on a daemon thread: a blocking read must never hold up the exit."""
    token = anyio.lowlevel.current_token()

    def deliver() -> None:
        try:
            for line in split_lines(lambda size: os.read(fd, size), MAX_LINE_BYTES):
                item = _too_long() if isinstance(line, _TooLong) else inbound_message(line)
                if isinstance(item, JSONRPCError):
                    anyio.from_thread.run(replies.send, SessionMessage(item), token=token)
                elif item is not None:
                    anyio.from_thread.run(messages.send, item, token=token)
            anyio.from_thread.run(messages.aclose, token=token)  # the client closed stdin
        except (RuntimeError, OSError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the server stopped (or stdin failed): nobody is left to tell

    threading.Thread(target=deliver, name="rag-mcp-stdin", daemon=True).start()


def _too_long() -> JSONRPCError:
    limit = f"{MAX_LINE_BYTES:,} bytes"
    return _error(None, INVALID_REQUEST, f"invalid request: a line longer than {limit}, discarded")


async def _write_messages(
    fd: int, messages: MemoryObjectReceiveStream[SessionMessage], tasks: TaskGroup
) -> None:
    """Write each message as a line; a client that has gone stops the server."""
    async with messages:
        async for message in messages:
            try:
                await anyio.to_thread.run_sync(_write_all, fd, encoded(message))
            except (BrokenPipeError, ConnectionResetError):
                tasks.cancel_scope.cancel()
                return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
