"""LLMs behind an OpenAI-compatible HTTP server: llama.cpp, vLLM, Ollama, LM Studio, ...

Standard library only. Generation streams Server-Sent Events from `/chat/completions` or
`/completions`; a server that ignores `stream: true` and sends one JSON reply works too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ragcli.errors import ModelError, UsageError
from ragcli.records import Completion, GenerationSettings, Prompt
from ragcli.settings import LLM_APIS

# Byte-level BPE and SentencePiece vocabularies average well over 3 bytes per token on
# prose; an estimate that never under-counts keeps prompts inside the context window.
_BYTES_PER_TOKEN = 3
_DETAIL_CHARS = 200
_ERROR_BODY_BYTES = 64 * 1024
# One SSE line or a whole non-streamed reply: a server's answer to one question is far
# smaller, so more is a broken or hostile server, not an answer to hold in memory.
_REPLY_BYTES = 8 * 1024 * 1024
_LOG_HINT = "check the LLM server's log"


@dataclass(frozen=True)
class ServerOptions:
    """Where the server is and how to talk to it."""

    url: str
    model: str | None  # None: the first model GET {url}/models lists
    api_key: str | None
    api: str  # "chat": /chat/completions with messages; "completion": /completions
    context_tokens: int
    timeout_s: float = 120.0  # per socket read while generating
    connect_timeout_s: float = 10.0
    # The whole answer, however steadily a server keeps sending: a server that streams
    # forever (or trickles a byte at a time under the read timeout) is cut off here.
    answer_timeout_s: float = 600.0


@dataclass(frozen=True)
class _Endpoint:
    """A parsed base URL."""

    url: str
    https: bool
    host: str
    port: int | None
    path: str


class OpenAICompatibleLLM:
    """A model served over the OpenAI HTTP API; token counts are estimates."""

    def __init__(self, options: ServerOptions) -> None:
        if options.api not in LLM_APIS:
            raise UsageError(
                f"LLM server API must be one of {', '.join(LLM_APIS)}: {options.api!r}"
            )
        self.options = options
        self._endpoint = _parse_url(options.url)
        self.url = self._endpoint.url
        listing = self._get_models()
        self.model = options.model or _first_model(listing, self.url)
        self.spec = f"{self.model} at {self.url}"
        self.context_tokens = options.context_tokens
        self.has_chat_template = options.api == "chat"

    def count_tokens(self, text: str) -> int:
        """Estimate the tokens a text takes, erring high: the API has no tokenizer."""
        return math.ceil(len(text.encode("utf-8")) / _BYTES_PER_TOKEN)

    def prepare_prefix(self, text: str) -> None:
        """Do nothing: a server keeps (or not) its own prompt cache."""

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        """The streamed answer whole; servers are not asked for log-probabilities."""
        from ragcli.backends.llms import complete_by_streaming

        return complete_by_streaming(self, prompt, settings)

    def score(self, prompt: Prompt, continuation: str) -> float | None:
        return None

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        """Yield the answer's text piece by piece as the server sends it."""
        chat = self.options.api == "chat"
        path = "/chat/completions" if chat else "/completions"
        timeout_s = self.options.timeout_s
        connection, response = self._send("POST", path, self._payload(prompt, settings), timeout_s)
        watchdog = _Watchdog(_socket_of(response), self.options.answer_timeout_s)
        try:
            kind = (response.getheader("Content-Type") or "").lower()
            if kind.startswith("application/json"):
                body = _read(lambda: response.read(_REPLY_BYTES + 1), self.url, timeout_s)
                _check_size(body, self.url)
                replies: Iterable[Any] = [_decode_json(body, self.url)]
            else:
                replies = _events(response, self.url, timeout_s)
            for piece in _pieces(replies, chat, not kind.startswith("application/json"), self.url):
                watchdog.check(self.url)
                yield piece
            watchdog.check(self.url)  # a stream cut at the deadline is not a whole answer
        except ModelError:
            watchdog.check(self.url)  # the cut, not what it did to the read, is the cause
            raise
        finally:
            watchdog.cancel()
            response.close()
            connection.close()

    def _payload(self, prompt: Prompt, settings: GenerationSettings) -> dict[str, Any]:
        """Build the JSON request body, converting the prompt to the API's shape if needed."""
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "stream": True,
        }
        if prompt.stop:
            payload["stop"] = list(prompt.stop)
        if self.options.api == "chat":
            pairs = prompt.messages if prompt.is_chat else (("user", prompt.text),)
            payload["messages"] = [{"role": role, "content": text} for role, text in pairs]
        else:
            joined = "\n\n".join(text for _, text in prompt.messages)
            payload["prompt"] = joined if prompt.is_chat else prompt.text
        return payload

    def _get_models(self) -> Any:
        """Return the decoded GET /models reply, proving the server is there."""
        timeout_s = self.options.connect_timeout_s
        connection, response = self._send("GET", "/models", None, timeout_s)
        try:
            return _decode_json(_read(response.read, self.url, timeout_s), self.url)
        finally:
            response.close()
            connection.close()

    def _send(
        self, method: str, path: str, payload: dict[str, Any] | None, timeout_s: float
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one request; return the open connection and a 2xx response."""
        connection = self._connect(timeout_s)
        headers = {"Accept": "application/json, text/event-stream", "User-Agent": "ragcli"}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key}"
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, self._endpoint.path + path, body=body, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _transport_error(exc, self.url, timeout_s) from exc
        if not 200 <= response.status < 300:
            try:
                raise _status_error(response, self.url)
            finally:
                response.close()
                connection.close()
        return connection, response

    def _connect(self, read_timeout_s: float) -> http.client.HTTPConnection:
        """Open a connection within the connect timeout, then allow read_timeout_s per read."""
        end = self._endpoint
        kind = http.client.HTTPSConnection if end.https else http.client.HTTPConnection
        port = end.port or (443 if end.https else 80)  # explicit, or "::1" parses as port 1
        connection = kind(end.host, port, timeout=self.options.connect_timeout_s)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise _transport_error(exc, self.url, self.options.connect_timeout_s) from exc
        if connection.sock is not None:
            connection.sock.settimeout(read_timeout_s)
        return connection


def _parse_url(url: str) -> _Endpoint:
    """Check and split a base URL such as http://127.0.0.1:8000/v1."""
    text = url.strip()
    problem = UsageError(
        f"LLM server URL must start with http:// or https://: {_one_line(text)!r}",
        "pass --llm-url like http://127.0.0.1:8080/v1",
    )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise problem from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem
    path = parts.path.rstrip("/")
    # Without any user:password@ part, which would otherwise show in specs and messages.
    base = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}"
    return _Endpoint(base, parts.scheme == "https", parts.hostname, port, path)


def _first_model(listing: Any, url: str) -> str:
    """Return the first model id of a GET /models reply."""
    models = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(models, list):
        raise _incompatible(url, "GET /models has no 'data' list")
    for model in models:
        if isinstance(model, dict) and isinstance(model.get("id"), str) and model["id"]:
            return str(model["id"])
    raise ModelError(f"the LLM server at {url} lists no models", "name the model with --llm-model")


class _Watchdog:
    """Shuts a connection down at the answer's deadline, whatever a read is waiting for.

    The per-read timeout bounds a silent server; this bounds one that keeps sending, even
    a byte at a time inside one line, which no socket timeout can see.
    """

    def __init__(self, sock: socket.socket | None, seconds: float) -> None:
        self.seconds = seconds
        self.expired = threading.Event()
        self._timer = threading.Timer(seconds, self._cut, (sock,))
        self._timer.daemon = True
        self._timer.start()

    def _cut(self, sock: socket.socket | None) -> None:
        self.expired.set()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def check(self, url: str) -> None:
        """Raise the deadline's error once it has passed."""
        if self.expired.is_set():
            raise ModelError(
                f"the LLM server at {url} was still sending after {self.seconds:g} s", _LOG_HINT
            )

    def cancel(self) -> None:
        self._timer.cancel()


def _socket_of(response: http.client.HTTPResponse) -> socket.socket | None:
    """The socket a response reads from (its connection may already have let go of it)."""
    raw = getattr(response.fp, "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _events(response: http.client.HTTPResponse, url: str, timeout_s: float) -> Iterator[Any]:
    """Yield the decoded JSON of each Server-Sent Event until [DONE] or the stream's end."""
    data: list[str] = []
    held = 0  # bytes of the event being gathered
    seen_event = False
    stray = ""
    while True:
        raw = _read(lambda: response.readline(_REPLY_BYTES + 1), url, timeout_s)
        _check_size(raw, url)
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if raw and line:
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
                held += len(raw)
                if held > _REPLY_BYTES:
                    raise _too_long(url)
            elif field and not stray:
                stray = line  # not an SSE field we use; remembered to explain a bad reply
            continue
        if data:
            # A blank line (or the stream's end) dispatches the event, per the SSE spec.
            text, data, held = "\n".join(data), [], 0
            seen_event = True
            if text.strip() == "[DONE]":
                return
            yield _decode_json(text.encode("utf-8"), url)
        if not raw:
            break
    if not seen_event:
        detail = f"no data events, it began {stray!r}" if stray else "the stream was empty"
        raise _incompatible(url, detail)


def _pieces(replies: Iterable[Any], chat: bool, streamed: bool, url: str) -> Iterator[str]:
    """Yield the non-empty text of each reply's first choice."""
    for reply in replies:
        if not isinstance(reply, dict):
            raise _incompatible(url, f"expected a JSON object, got {_snippet(reply)}")
        if "error" in reply:
            raise ModelError(
                f"the LLM server at {url} reported an error: {_error_text(reply['error'])}",
                _LOG_HINT,
            )
        choices = reply.get("choices")
        if not isinstance(choices, list):
            raise _incompatible(url, f"no 'choices' in {_snippet(reply)}")
        if not choices:
            continue  # e.g. a final usage-only chunk
        text = _choice_text(choices[0], chat, streamed)
        if text is None:
            raise _incompatible(url, f"unexpected choice {_snippet(choices[0])}")
        if text:
            yield text


def _choice_text(choice: Any, chat: bool, streamed: bool) -> str | None:
    """Return a choice's text ("" when it carries none), or None when it is malformed."""
    if not isinstance(choice, dict):
        return None
    if not chat:
        text = choice.get("text")
    else:
        holder = choice.get("delta" if streamed else "message")
        if not isinstance(holder, dict):
            return None
        text = holder.get("content")
    if text is None:
        return ""
    return text if isinstance(text, str) else None


def _read(read: Callable[[], bytes], url: str, timeout_s: float) -> bytes:
    """Call a response's read or readline, turning transport failures into ModelError."""
    try:
        return read()
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_error(exc, url, timeout_s) from exc


def _check_size(body: bytes, url: str) -> None:
    if len(body) > _REPLY_BYTES:
        raise _too_long(url)


def _too_long(url: str) -> ModelError:
    return _incompatible(url, f"a reply or event longer than {_REPLY_BYTES // 2**20} MiB")


def _decode_json(body: bytes, url: str) -> Any:
    """Decode a JSON body or event."""
    try:
        return json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace")
        raise _incompatible(url, f"not JSON: {_one_line(text)!r}") from None


def _transport_error(
    exc: OSError | http.client.HTTPException, url: str, timeout_s: float
) -> ModelError:
    """Return the ModelError for a failed connect, send or read."""
    if isinstance(exc, TimeoutError):
        return ModelError(
            f"the LLM server at {url} did not answer within {timeout_s:g} s",
            "check the server is not overloaded, or raise the timeout",
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return ModelError(
            f"cannot reach the LLM server at {url}: {_one_line(reason)}",
            "start the server or check --llm-url",
        )
    return _incompatible(url, f"broken HTTP reply ({type(exc).__name__})")


def _status_error(response: http.client.HTTPResponse, url: str) -> ModelError:
    """Return the ModelError for a reply with an error status."""
    try:
        body = response.read(_ERROR_BODY_BYTES)
    except (OSError, http.client.HTTPException):
        body = b""
    text = body.decode("utf-8", errors="replace")
    try:
        detail = _error_text(json.loads(text))
    except ValueError:
        detail = _one_line(text) or response.reason
    status = response.status
    if status in (401, 403):
        hint = "set RAG_LLM_API_KEY to a key the server accepts"
    elif status == 404:
        hint = "check --llm-url; it usually ends in /v1"
    else:
        hint = _LOG_HINT
    return ModelError(f"the LLM server at {url} answered HTTP {status}: {detail}", hint)


def _error_text(error: Any) -> str:
    """Pull the message out of the error shapes servers send: OpenAI, FastAPI, plain."""
    if isinstance(error, dict):
        for key in ("error", "message", "detail"):
            if key in error:
                return _error_text(error[key])
    if isinstance(error, str):
        return _one_line(error)
    return _snippet(error)


def _incompatible(url: str, detail: str) -> ModelError:
    """Return the ModelError for a reply that does not follow the OpenAI API."""
    return ModelError(
        f"the LLM server at {url} sent a reply that is not OpenAI-compatible: {detail}",
        "check --llm-url points at an OpenAI-compatible /v1 API",
    )


def _snippet(value: Any) -> str:
    """Return a short one-line JSON rendering of a value."""
    return _one_line(json.dumps(value, ensure_ascii=False))


def _one_line(text: str) -> str:
    """Collapse whitespace and cut to a length that fits one terminal line or so."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= _DETAIL_CHARS else flat[: _DETAIL_CHARS - 3] + "..."
