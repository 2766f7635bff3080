"""OpenAI's chat API shapes: a request's messages read, completions and chunks written.

The conversation is the request's `messages`: each user message followed by an assistant
message is an earlier turn, the last message (a user's) is the question. System and
developer messages, and tool messages, are not read: the store's documents are the
context. Sampling fields (temperature, max_tokens...) are not read either: the server
answers with the settings it was started with.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ragcli.http_api.errors import HttpError
from ragcli.records import Turn

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_UNREAD = ("system", "developer", "tool", "function")
# Where the evidence line and the sources begin in an answer this server wrote: an earlier
# turn's answer is read without them (they are not what the model said).
_APPENDIX = re.compile(
    r"\n(  \"[^\n]*\" \[\d+\] \([^\n]*\)\n|  \(!\) [^\n]*\n)?(\nSources:\n.*)?\Z", re.S
)


@dataclass(frozen=True)
class ChatRequest:
    """What a chat completion request asks: the question, the turns before it, streaming."""

    question: str
    earlier: tuple[Turn, ...]  # oldest first
    stream: bool


def read_chat_request(body: Any) -> ChatRequest:
    """The request a chat completion body makes; HttpError 400 naming what is wrong."""
    if not isinstance(body, dict):
        raise HttpError.invalid("the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HttpError.invalid("`messages` must be a non-empty array", "messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise HttpError.invalid("`stream` must be true or false", "stream")
    if "model" in body and not isinstance(body["model"], str):
        raise HttpError.invalid("`model` must be a string", "model")
    said = [_message(number, message) for number, message in enumerate(messages)]
    said = [(role, text) for role, text in said if role not in _UNREAD]
    if not said or said[-1][0] != "user":
        raise HttpError.invalid("the last message (but system ones) must be the user's", "messages")
    return ChatRequest(said[-1][1], _turns(said[:-1]), stream)


def _message(number: int, message: Any) -> tuple[str, str]:
    """A message's role and text; HttpError 400 for one of another shape."""
    where = f"messages[{number}]"
    if not isinstance(message, dict):
        raise HttpError.invalid(f"`{where}` must be an object", where)
    role = message.get("role")
    if role not in _ROLES:
        raise HttpError.invalid(f"`{where}.role` must be one of {', '.join(_ROLES)}", where)
    content = message.get("content")
    if content is None or isinstance(content, str):
        return role, content or ""
    if isinstance(content, list):
        parts = [part for part in content if isinstance(part, dict)]
        texts = [part.get("text") for part in parts if part.get("type") == "text"]
        if len(texts) == len(content) and all(isinstance(text, str) for text in texts):
            return role, "\n".join(str(text) for text in texts)
    raise HttpError.invalid(f"`{where}.content` must be text or an array of text parts", where)


def _turns(said: list[tuple[str, str]]) -> tuple[Turn, ...]:
    """Each user message with the assistant's reply that follows it, if one does."""
    turns: list[Turn] = []
    for role, text in said:
        if role == "user":
            turns.append(Turn(text))
        elif turns and not turns[-1].answer_text:
            turns[-1] = Turn(turns[-1].question, _APPENDIX.sub("", text))
    return tuple(turns)


@dataclass(frozen=True)
class Reply:
    """The identity every object of one completion shares."""

    model: str
    id: str
    created: int

    @classmethod
    def new(cls, model: str) -> Reply:
        return cls(model, f"chatcmpl-{uuid.uuid4().hex}", int(time.time()))

    def completion(self, content: str, ragcli: dict[str, Any]) -> dict[str, Any]:
        """The whole completion, with the answer's structured support under `ragcli`."""
        message = {"role": "assistant", "content": content}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        return {**self._head("chat.completion"), "choices": [choice], "ragcli": ragcli}

    def chunk(
        self,
        delta: dict[str, str],
        finish_reason: str | None = None,
        ragcli: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One chat.completion.chunk of a streamed completion."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        document = {**self._head("chat.completion.chunk"), "choices": [choice]}
        return document if ragcli is None else {**document, "ragcli": ragcli}

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


def model_list(model: str, created: int) -> dict[str, Any]:
    """GET /v1/models: the store, as the one model."""
    entry = {"id": model, "object": "model", "created": created, "owned_by": "ragcli"}
    return {"object": "list", "data": [entry]}


@dataclass(frozen=True)
class SearchRequest:
    """What POST /v1/search asks: the query, and k and mode if given."""

    query: str
    k: int | None
    mode: str | None


def read_search_request(body: Any) -> SearchRequest:
    """The request a search body makes; HttpError 400 naming what is wrong."""
    if not isinstance(body, dict):
        raise HttpError.invalid("the body must be a JSON object")
    query, k, mode = body.get("query"), body.get("k"), body.get("mode")
    if not isinstance(query, str):
        raise HttpError.invalid("`query` must be a string", "query")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
        raise HttpError.invalid("`k` must be a whole number", "k")
    if mode is not None and not isinstance(mode, str):
        raise HttpError.invalid("`mode` must be a string", "mode")
    return SearchRequest(query, k, mode)
