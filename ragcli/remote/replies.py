"""Check what an OpenAI-compatible server sent: size, JSON, model listings, error replies."""

from __future__ import annotations

import http.client
import json
from typing import Any

from ragcli.errors import ModelError
from ragcli.remote.endpoint import Endpoint

_ERROR_BODY_BYTES = 64 * 1024
# One SSE line, a whole non-streamed reply or a model listing: a server's answer to one
# question is far smaller, so more is a broken or hostile server, not a reply to hold.
REPLY_BYTES = 8 * 1024 * 1024


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


def check_size(body: bytes, end: Endpoint) -> None:
    """Refuse a reply or event longer than REPLY_BYTES."""
    if len(body) > REPLY_BYTES:
        raise reply_too_long(end)


def reply_too_long(end: Endpoint) -> ModelError:
    """Return the ModelError for a reply or event longer than REPLY_BYTES."""
    return incompatible(end, f"a reply or event longer than {REPLY_BYTES // 2**20} MiB")


def decode_json(body: bytes, end: Endpoint) -> Any:
    """Decode a JSON body or event."""
    try:
        return json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace")
        raise incompatible(end, f"not JSON: {end.line(text)!r}") from None


def status_error(response: http.client.HTTPResponse, end: Endpoint) -> ModelError:
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
