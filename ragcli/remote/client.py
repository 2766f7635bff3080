"""Requests to OpenAI-compatible HTTP servers: shared by llm/server.py and embedding/server.py.

Standard library only. `ServerClient` connects and sends with timeouts, a size cap on
every reply and one-line errors with the server's credentials redacted; `sse_events`
reads a Server-Sent Events stream line by line, under the same cap.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ragcli.errors import ModelError, UsageError
from ragcli.remote.redaction import redact, secret_forms

# prose; an estimate that never under-counts keeps prompts inside the context window.
_BYTES_PER_TOKEN = 3
_DETAIL_CHARS = 200
_ERROR_BODY_BYTES = 64 * 1024
# One SSE line, a whole non-streamed reply or a model listing: a server's answer to one
# question is far smaller, so more is a broken or hostile server, not a reply to hold.
REPLY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Role:
    """What a server is to ragcli, for messages: its name and the settings that reach it."""

    name: str  # "LLM server"
    url_flag: str
    key_env: str
    model_flag: str


@dataclass(frozen=True)
class Endpoint:
    """A parsed base URL and the role of the server behind it."""

    url: str
    https: bool
    host: str
    port: int | None
    path: str
    role: Role
    # The API key and URL credentials, in every spelling; never in a repr.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def log_hint(self) -> str:
        return f"check the {self.role.name}'s log"

    def redact(self, text: str) -> str:
        """The text with this server's credentials (and any others it shows) blanked out."""
        return redact(text, self.secrets)

    def line(self, text: str) -> str:
        """A text from the server, credentials blanked out, as one short line."""
        return one_line(self.redact(text))


class ServerClient:
    """Requests to one OpenAI-compatible server, with its timeouts, size cap and errors."""

    def __init__(self, url: str, role: Role, api_key: str | None, connect_timeout_s: float) -> None:
        self.endpoint = parse_url(url, role, api_key)
        self.url = self.endpoint.url
        self.api_key = api_key
        self.connect_timeout_s = connect_timeout_s

    def get_json(self, path: str, timeout_s: float, deadline_s: float) -> Any:
        """Return the decoded reply to GET {url}{path}, at most 8 MiB, whole within deadline_s."""
        return self._json("GET", path, None, timeout_s, deadline_s)

    def post_json(
        self, path: str, payload: dict[str, Any], timeout_s: float, deadline_s: float
    ) -> Any:
        """Return the decoded JSON reply to a POST, at most 8 MiB, whole within deadline_s."""
        return self._json("POST", path, payload, timeout_s, deadline_s)

    def _json(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        timeout_s: float,
        deadline_s: float,
    ) -> Any:
        """Send a request and decode its JSON reply, never reading past the size cap."""
        connection, response = self.send(method, path, payload, timeout_s)
        watchdog = Watchdog(socket_of(response), deadline_s)
        try:
            body = read_within(lambda: response.read(REPLY_BYTES + 1), self.endpoint, timeout_s)
            watchdog.check(self.endpoint)
            check_size(body, self.endpoint)
            return decode_json(body, self.endpoint)
        except ModelError:
            watchdog.check(self.endpoint)  # the cut, not what it did to the read, is the cause
            raise
        finally:
            watchdog.cancel()
            response.close()
            connection.close()

    def send(
        self, method: str, path: str, payload: dict[str, Any] | None, timeout_s: float
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one request; return the open connection and a 2xx response."""
        connection = self._connect(timeout_s)
        headers = {"Accept": "application/json, text/event-stream", "User-Agent": "ragcli"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, self.endpoint.path + path, body=body, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _transport_error(exc, self.endpoint, timeout_s) from exc
        if not 200 <= response.status < 300:
            try:
                raise _status_error(response, self.endpoint)
            finally:
                response.close()
                connection.close()
        return connection, response

    def _connect(self, read_timeout_s: float) -> http.client.HTTPConnection:
        """Open a connection within the connect timeout, then allow read_timeout_s per read."""
        end = self.endpoint
        kind = http.client.HTTPSConnection if end.https else http.client.HTTPConnection
        port = end.port or (443 if end.https else 80)  # explicit, or "::1" parses as port 1
        connection = kind(end.host, port, timeout=self.connect_timeout_s)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise _transport_error(exc, end, self.connect_timeout_s) from exc
        if connection.sock is not None:
            connection.sock.settimeout(read_timeout_s)
        return connection


def parse_url(url: str, role: Role, api_key: str | None = None) -> Endpoint:
    """Check and split a base URL such as http://127.0.0.1:8000/v1."""
    text = url.strip()
    problem = UsageError(
        f"{role.name} URL must start with http:// or https://: {one_line(redact(text))!r}",
        f"pass {role.url_flag} like http://127.0.0.1:8080/v1",
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
    secrets = secret_forms([api_key, parts.username, parts.password])
    return Endpoint(base, parts.scheme == "https", parts.hostname, port, path, role, secrets)


def listed_models(listing: Any, end: Endpoint) -> list[str]:
    """Return the model ids of a GET /models reply, in its order."""
    models = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(models, list):
        raise incompatible(end, "GET /models has no 'data' list")
    return [
        str(model["id"])
        for model in models
        if isinstance(model, dict) and isinstance(model.get("id"), str) and model["id"]
    ]


def first_model(listing: Any, end: Endpoint) -> str:
    """Return the first model id of a GET /models reply."""
    for model in listed_models(listing, end):
        return model
    raise ModelError(
        f"the {end.role.name} at {end.url} lists no models",
        f"name the model with {end.role.model_flag}",
    )


class Watchdog:
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

    def check(self, end: Endpoint) -> None:
        """Raise the deadline's error once it has passed."""
        if self.expired.is_set():
            raise ModelError(
                f"the {end.role.name} at {end.url} was still sending after {self.seconds:g} s",
                end.log_hint,
            )

    def cancel(self) -> None:
        self._timer.cancel()


def socket_of(response: http.client.HTTPResponse) -> socket.socket | None:
    """The socket a response reads from (its connection may already have let go of it)."""
    raw = getattr(response.fp, "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def sse_events(
    response: http.client.HTTPResponse, end: Endpoint, timeout_s: float
) -> Iterator[Any]:
    """Yield the decoded JSON of each Server-Sent Event until [DONE] or the stream's end."""
    data: list[str] = []
    held = 0  # bytes of the event being gathered
    seen_event = False
    stray = ""
    while True:
        raw = read_within(lambda: response.readline(REPLY_BYTES + 1), end, timeout_s)
        check_size(raw, end)
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if raw and line:
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
                held += len(raw)
                if held > REPLY_BYTES:
                    raise _too_long(end)
            elif field and not stray:
                stray = end.line(line)  # not an SSE field we use; remembered to explain a bad reply
            continue
        if data:
            # A blank line (or the stream's end) dispatches the event, per the SSE spec.
            text, data, held = "\n".join(data), [], 0
            seen_event = True
            if text.strip() == "[DONE]":
                return
            yield decode_json(text.encode("utf-8"), end)
        if not raw:
            break
    if not seen_event:
        detail = f"no data events, it began {stray!r}" if stray else "the stream was empty"
        raise incompatible(end, detail)


def read_within(read: Callable[[], bytes], end: Endpoint, timeout_s: float) -> bytes:
    """Call a response's read or readline, turning transport failures into ModelError."""
    try:
        return read()
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_error(exc, end, timeout_s) from exc


def check_size(body: bytes, end: Endpoint) -> None:
    if len(body) > REPLY_BYTES:
        raise _too_long(end)


def _too_long(end: Endpoint) -> ModelError:
    return incompatible(end, f"a reply or event longer than {REPLY_BYTES // 2**20} MiB")


def decode_json(body: bytes, end: Endpoint) -> Any:
    """Decode a JSON body or event."""
    try:
        return json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace")
        raise incompatible(end, f"not JSON: {end.line(text)!r}") from None


def _transport_error(
    exc: OSError | http.client.HTTPException, end: Endpoint, timeout_s: float
) -> ModelError:
    """Return the ModelError for a failed connect, send or read."""
    if isinstance(exc, TimeoutError):
        return ModelError(
            f"the {end.role.name} at {end.url} did not answer within {timeout_s:g} s",
            "check the server is not overloaded, or raise the timeout",
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return ModelError(
            f"cannot reach the {end.role.name} at {end.url}: {end.line(reason)}",
            f"start the server or check {end.role.url_flag}",
        )
    return incompatible(end, f"broken HTTP reply ({type(exc).__name__})")


def _status_error(response: http.client.HTTPResponse, end: Endpoint) -> ModelError:
    """Return the ModelError for a reply with an error status."""
    try:
        body = response.read(_ERROR_BODY_BYTES)
    except (OSError, http.client.HTTPException):
        body = b""
    text = body.decode("utf-8", errors="replace")
    try:
        detail = error_text(json.loads(text), end)
    except ValueError:
        detail = end.line(text) or end.line(response.reason)
    status = response.status
    if status in (401, 403):
        hint = f"set {end.role.key_env} to a key the server accepts"
    elif status == 404:
        hint = f"check {end.role.url_flag}; it usually ends in /v1"
    else:
        hint = end.log_hint
    return ModelError(f"the {end.role.name} at {end.url} answered HTTP {status}: {detail}", hint)


def reported_error(error: Any, end: Endpoint) -> ModelError:
    """Return the ModelError for an error the server reported in a 2xx reply."""
    return ModelError(
        f"the {end.role.name} at {end.url} reported an error: {error_text(error, end)}",
        end.log_hint,
    )


def error_text(error: Any, end: Endpoint) -> str:
    """Pull the message out of the error shapes servers send: OpenAI, FastAPI, plain."""
    if isinstance(error, dict):
        for key in ("error", "message", "detail"):
            if key in error:
                return error_text(error[key], end)
    if isinstance(error, str):
        return end.line(error)
    return snippet(error, end)


def incompatible(end: Endpoint, detail: str) -> ModelError:
    """Return the ModelError for a reply that does not follow the OpenAI API."""
    return ModelError(
        f"the {end.role.name} at {end.url} sent a reply that is not OpenAI-compatible: {detail}",
        f"check {end.role.url_flag} points at an OpenAI-compatible /v1 API",
    )


def snippet(value: Any, end: Endpoint) -> str:
    """Return a short one-line JSON rendering of a value a server sent."""
    return end.line(json.dumps(value, ensure_ascii=False))


def one_line(text: str) -> str:
    """Collapse whitespace and cut to a length that fits one terminal line or so."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= _DETAIL_CHARS else flat[: _DETAIL_CHARS - 3] + "..."
