"""Requests to OpenAI-compatible HTTP servers: shared by llm/server.py and embedding/server.py.

Standard library only. `ServerClient` connects and sends with timeouts, a size cap on
every reply and one-line errors with the server's credentials redacted; `sse_events`
reads a Server-Sent Events stream line by line, under the same cap. What a reply must be
is checked in replies.py; the server's URL and credentials are endpoint.py's.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ragcli.errors import ModelError
from ragcli.remote.endpoint import Endpoint, Role, parse_url
from ragcli.remote.replies import (
    REPLY_BYTES,
    check_size,
    decode_json,
    incompatible,
    reply_too_long,
    status_error,
)


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
                raise status_error(response, self.endpoint)
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
                    raise reply_too_long(end)
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
