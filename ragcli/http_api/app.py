"""The routes: chat completions, models, search and health over one library and its queue."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ragcli import output
from ragcli.conversation import Conversation
from ragcli.errors import RagError
from ragcli.http_api.errors import HttpError
from ragcli.http_api.openai_shapes import (
    ChatRequest,
    Reply,
    model_list,
    read_chat_request,
    read_search_request,
)
from ragcli.http_api.queue import ModelQueue, QueueFull
from ragcli.library import Library
from ragcli.records import Answer
from ragcli.text.questions import check_question

# The largest request body read: a question is 4,000 characters at most, so 1 MiB leaves
# room for a long conversation's earlier turns and refuses anything bigger unread.
MAX_BODY_BYTES = 1 << 20
_DRAINED_BYTES = 64 * MAX_BODY_BYTES

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[["Service", Request], Awaitable[Response]]


@dataclass(frozen=True)
class Service:
    """What every route answers from: the library, its queue, the key and the model's name."""

    library: Library
    queue: ModelQueue
    api_key: str | None
    model: str
    created: int


def build_app(library: Library, queue: ModelQueue, api_key: str | None) -> Starlette:
    """The application: each route behind the API key (but /health), failures as JSON."""
    names = [display_store(path.name) for path in library.stores]
    service = Service(library, queue, api_key, "+".join(names), int(time.time()))

    routes = [
        Route("/health", _endpoint(service, _health, guarded=False), methods=["GET"]),
        Route("/v1/models", _endpoint(service, _models), methods=["GET"]),
        Route("/v1/chat/completions", _endpoint(service, _chat), methods=["POST"]),
        Route("/v1/search", _endpoint(service, _search), methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})


def display_store(name: str) -> str:
    """A store's name as the model's name: what any client can show."""
    return output.one_line(name) or "store"


def _endpoint(service: Service, handler: Handler, guarded: bool = True) -> Endpoint:
    """The handler behind the key check, its failures answered as OpenAI's error objects."""

    async def endpoint(request: Request) -> Response:
        try:
            if guarded:
                _check_key(service.api_key, request)
            return await handler(service, request)
        except QueueFull as exc:
            failed = HttpError(429, str(exc), "rate_limit_error", "queue_full")
            failed.headers["Retry-After"] = str(exc.retry_after_s)
            return _error(failed)
        except HttpError as exc:
            return _error(exc)
        except RagError as exc:
            return _error(HttpError.of(exc))
        except Exception as exc:  # a bug: said in one line, as the CLI does; the server lives
            return _error(HttpError.unexpected(exc))

    return endpoint


def _check_key(api_key: str | None, request: Request) -> None:
    """HttpError 401 unless the request bears the key (compared in constant time)."""
    if api_key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Digests have one length whatever was sent: the comparison tells nothing of the key's.
    # Starlette decodes header bytes as Latin-1, so encoding back gives the bytes sent.
    expected = hashlib.sha256(api_key.encode("utf-8", "surrogateescape")).digest()
    sent = hashlib.sha256(given.strip().encode("latin-1")).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent, expected):
        failed = HttpError(
            401, "a valid API key is required", "authentication_error", "invalid_api_key"
        )
        failed.headers["WWW-Authenticate"] = "Bearer"
        raise failed


def _error(exc: HttpError) -> JSONResponse:
    return JSONResponse(exc.document(), exc.status, headers=exc.headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own failures (no such route, wrong method) in the same JSON shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    code = "not_found" if status == 404 else "method_not_allowed" if status == 405 else None
    message = f"{request.method} {request.url.path}: {detail}"
    return _error(HttpError(status, message, "invalid_request_error", code))


async def read_json(request: Request) -> Any:
    """The request's JSON body: 413 past MAX_BODY_BYTES (never held whole), 400 if not JSON."""
    declared = request.headers.get("content-length", "")
    over = declared.isdigit() and int(declared) > MAX_BODY_BYTES
    body = bytearray()
    received = 0
    async for block in request.stream():
        received += len(block)
        if not over:
            body += block
            over = len(body) > MAX_BODY_BYTES
        if over:
            body.clear()
            # Read on, discarding, so the client can read the 413 before the connection
            # closes (a socket closed with data unread resets); not forever, though.
            if received > _DRAINED_BYTES:
                break
    if over:
        limit = f"{MAX_BODY_BYTES:,} bytes"
        raise HttpError(
            413, f"the body is larger than {limit}", "invalid_request_error", "too_large"
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise HttpError.invalid("the body is not JSON text") from None


async def _health(service: Service, request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _models(service: Service, request: Request) -> Response:
    return JSONResponse(model_list(service.model, service.created))


async def _search(service: Service, request: Request) -> Response:
    asked = read_search_request(await read_json(request))
    library = service.library

    def work() -> dict[str, Any]:
        found = library.search(asked.query, asked.k, asked.mode)
        mode = asked.mode or library.settings.mode
        hits = [output.hit_json(h, found.query, r, mode) for r, h in enumerate(found.hits, 1)]
        return {"query": found.query, "mode": mode, "hits": hits}

    return JSONResponse(output.json_safe(await service.queue.submit(work)))


async def _chat(service: Service, request: Request) -> Response:
    chat = read_chat_request(await read_json(request))
    check_question(chat.question)  # refused before it waits in the queue
    reply = Reply.new(service.model)
    if chat.stream:
        return await _streamed(service, chat, reply)
    pieces: list[str] = []
    answer = await service.queue.submit(lambda: _ask(service.library, chat, pieces.append))
    content = "".join(pieces) + support(answer, len(service.library.stores) > 1)
    return JSONResponse(output.json_safe(reply.completion(content, output.answer_json(answer))))


def _ask(library: Library, chat: ChatRequest, on_text: Callable[[str], None]) -> Answer:
    """Answer the request's question in the light of its earlier turns."""
    return Conversation(library, chat.earlier).ask(chat.question, on_text)


def support(answer: Answer, show_store: bool) -> str:
    """What follows the answer's text, as `rag ask` prints it: the evidence and sources."""
    sources = output.format_sources(answer.passages, answer.cited, show_store)
    return "\n" + output.format_support(answer) + sources


async def _streamed(service: Service, chat: ChatRequest, reply: Reply) -> Response:
    """Stream the answer as server-sent chunks once its first text has come.

    Until then a failure (an empty store, a model that will not load) is still an HTTP
    error; after it, an error event ends the stream.
    """
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[str | None] = asyncio.Queue()

    def on_text(piece: str) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, piece)

    def work() -> Answer:
        try:
            return _ask(service.library, chat, on_text)
        finally:
            loop.call_soon_threadsafe(pieces.put_nowait, None)

    job = service.queue.submit(work)
    first = await pieces.get()
    if first is None:
        await job  # raises what stopped it before any text
    events = _events(first, pieces, job, reply, len(service.library.stores) > 1)
    return StreamingResponse(events, media_type="text/event-stream")


async def _events(
    first: str | None,
    pieces: asyncio.Queue[str | None],
    job: asyncio.Future[Answer],
    reply: Reply,
    show_store: bool,
) -> AsyncIterator[str]:
    """The chunks: the role, each piece of text, the support, the last with `ragcli`; [DONE]."""
    yield _event(reply.chunk({"role": "assistant", "content": ""}))
    piece = first
    while piece is not None:
        if piece:
            yield _event(reply.chunk({"content": piece}))
        piece = await pieces.get()
    try:
        answer = await job
    except RagError as exc:
        yield _event(HttpError.of(exc).document())
        return
    except Exception as exc:  # a bug: said in one line; the server lives
        yield _event(HttpError.unexpected(exc).document())
        return
    yield _event(reply.chunk({"content": support(answer, show_store)}))
    yield _event(reply.chunk({}, "stop", output.answer_json(answer)))
    yield "data: [DONE]\n\n"


def _event(document: dict[str, Any]) -> str:
    return f"data: {json.dumps(output.json_safe(document), ensure_ascii=False)}\n\n"
