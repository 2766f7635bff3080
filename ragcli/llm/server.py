"""LLMs behind an OpenAI-compatible HTTP server: llama.cpp, vLLM, Ollama, LM Studio, ...

Standard library only. Generation streams Server-Sent Events from `/chat/completions` or
`/completions`; a server that ignores `stream: true` and sends one JSON reply works too.
The transport (connect, send, timeouts, size cap, one-line errors) is `remote/client.py`,
shared with the embedding server client.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ragcli.errors import ModelError, UsageError, setting
from ragcli.llm.factory import LLM_APIS
from ragcli.records import Completion, CopyFrom, GenerationSettings, Prompt
from ragcli.remote.client import ServerClient, Watchdog, read_within, socket_of, sse_events
from ragcli.remote.endpoint import Endpoint, Role
from ragcli.remote.replies import (
    REPLY_BYTES,
    check_size,
    decode_json,
    first_model,
    incompatible,
    reported_error,
    snippet,
)

# Byte-level BPE and SentencePiece vocabularies average well over 3 bytes per token on
# prose; an estimate that never under-counts keeps prompts inside the context window.
_BYTES_PER_TOKEN = 3

LLM_ROLE = Role("LLM server", setting("llm_url"), setting("llm_api_key"), setting("llm_model"))


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


class OpenAICompatibleLLM:
    """A model served over the OpenAI HTTP API; token counts are estimates."""

    def __init__(self, options: ServerOptions) -> None:
        if options.api not in LLM_APIS:
            raise UsageError(
                f"LLM server API must be one of {', '.join(LLM_APIS)}: {options.api!r}"
            )
        self.options = options
        self._client = ServerClient(
            options.url, LLM_ROLE, options.api_key, options.connect_timeout_s
        )
        self._endpoint = self._client.endpoint
        self.url = self._client.url
        listing = self._client.get_json(
            "/models", options.connect_timeout_s, options.answer_timeout_s
        )
        self.model = options.model or first_model(listing, self._endpoint)
        self.spec = f"{self._endpoint.redact(self.model)} at {self.url}"
        self.context_tokens = options.context_tokens
        self.has_chat_template = options.api == "chat"

    def count_tokens(self, text: str) -> int:
        """Estimate the tokens a text takes, erring high: the API has no tokenizer."""
        return math.ceil(len(text.encode("utf-8")) / _BYTES_PER_TOKEN)

    def prepare_prefix(self, text: str) -> None:
        """Do nothing: a server keeps (or not) its own prompt cache."""

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        """The streamed answer whole; servers are not asked for log-probabilities."""
        from ragcli.llm.base import complete_by_streaming

        return complete_by_streaming(self, prompt, settings)

    def score(self, prompt: Prompt, continuation: str) -> float | None:
        return None

    def copy(
        self, prompt: Prompt, source: CopyFrom, settings: GenerationSettings
    ) -> Completion | None:
        return None  # the OpenAI API has no way to constrain decoding to a text

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        """Yield the answer's text piece by piece as the server sends it."""
        chat = self.options.api == "chat"
        path = "/chat/completions" if chat else "/completions"
        timeout_s = self.options.timeout_s
        end = self._endpoint
        payload = self._payload(prompt, settings)
        connection, response = self._client.send("POST", path, payload, timeout_s)
        watchdog = Watchdog(socket_of(response), self.options.answer_timeout_s)
        try:
            kind = (response.getheader("Content-Type") or "").lower()
            if kind.startswith("application/json"):
                body = read_within(lambda: response.read(REPLY_BYTES + 1), end, timeout_s)
                check_size(body, end)
                replies: Iterable[Any] = [decode_json(body, end)]
            else:
                replies = sse_events(response, end, timeout_s)
            for piece in _pieces(replies, chat, not kind.startswith("application/json"), end):
                watchdog.check(end)
                yield piece
            watchdog.check(end)  # a stream cut at the deadline is not a whole answer
        except ModelError:
            watchdog.check(end)  # the cut, not what it did to the read, is the cause
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


def _pieces(replies: Iterable[Any], chat: bool, streamed: bool, end: Endpoint) -> Iterator[str]:
    """Yield the non-empty text of each reply's first choice."""
    for reply in replies:
        if not isinstance(reply, dict):
            raise incompatible(end, f"expected a JSON object, got {snippet(reply, end)}")
        if "error" in reply:
            raise reported_error(reply["error"], end)
        choices = reply.get("choices")
        if not isinstance(choices, list):
            raise incompatible(end, f"no 'choices' in {snippet(reply, end)}")
        if not choices:
            continue  # e.g. a final usage-only chunk
        text = _choice_text(choices[0], chat, streamed)
        if text is None:
            raise incompatible(end, f"unexpected choice {snippet(choices[0], end)}")
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
