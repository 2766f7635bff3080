"""An embedder behind an OpenAI-compatible `/embeddings` endpoint: llama.cpp, vLLM, TEI, ...

Standard library and numpy only; requests go through remote/client.py's `ServerClient`, so
the timeouts, the reply size cap and the one-line errors are those of `--llm-url`. A store built
this way records `server:MODEL` and the dimension, never the URL: a server moves, its model
does not, and every command that embeds is told where it is with `--embed-url`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ragcli.errors import ConfigMismatchError, ModelError, UsageError, setting
from ragcli.remote.client import ServerClient
from ragcli.remote.endpoint import Endpoint, Role
from ragcli.remote.replies import (
    first_model,
    incompatible,
    listed_models,
    reported_error,
    snippet,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

SERVER_SCHEME = "server"
EMBED_ROLE = Role(
    "embedding server", setting("embed_url"), setting("embed_api_key"), setting("embedder")
)
# Texts per request (a smaller --batch-size makes them smaller still). llama.cpp's server
# slows down super-linearly once a request passes its 512-token batch: 16 texts took 1.2 s,
# 64 took 13 s (docs/design/scaling-out-findings.md).
TEXTS_PER_REQUEST = 16
# The longest chunk, in word pieces of the bundled MiniLM tokenizer, which counts them
# locally: asking the server per chunk would cost a round trip each, and servers have no
# common tokenize route. On English text WordPiece counts at least as many pieces as the
# large vocabularies of LLM-based embedders, so 256 stays well inside llama.cpp's default
# 512-token batch (which truncates silently) and the 512 of BERT-style servers (which refuse).
MAX_TEXT_TOKENS = 256
# Embedded once when the embedder is made: proves the server embeds and gives the dimension.
_PROBE_TEXT = "What is retrieval-augmented generation?"
_POOLING_HINT = (
    "the model has no pooling: start llama.cpp's llama-server with --pooling mean, or "
    "llama_cpp.server with --kv_overrides ARCH.pooling_type=int:1 (e.g. gemma3)"
)


@dataclass(frozen=True)
class EmbedServerOptions:
    """Where the embedding server is and how long to wait for it (those of --llm-url)."""

    url: str
    api_key: str | None
    timeout_s: float = 120.0  # per socket read
    connect_timeout_s: float = 10.0
    reply_timeout_s: float = 600.0  # one whole reply, however steadily it trickles in


def server_spec(model: str) -> str:
    """Return the spec a store records for a model on a server: `server:MODEL`."""
    prefix = f"{SERVER_SCHEME}:"
    return prefix + (model[len(prefix) :] if model.startswith(prefix) else model)


def is_server_spec(spec: str) -> bool:
    return spec.startswith(f"{SERVER_SCHEME}:")


class ServerEmbedder:
    """A model served over the OpenAI embeddings API; vectors are L2-normalised here."""

    def __init__(self, options: EmbedServerOptions, model: str, dimension: int | None) -> None:
        """Connect, check the server serves `model` ("" = its first), and embed a probe.

        `dimension` is the store's, when there is one: a server whose vectors differ is
        serving another model, whatever its name.
        """
        self.options = options
        self._client = ServerClient(
            options.url, EMBED_ROLE, options.api_key, options.connect_timeout_s
        )
        self._endpoint = self._client.endpoint
        self.url = self._client.url
        listing = self._client.get_json(
            "/models", options.connect_timeout_s, options.reply_timeout_s
        )
        self.model = model or first_model(listing, self._endpoint)
        _check_served(self.model, listed_models(listing, self._endpoint), self._endpoint)
        self.spec = server_spec(self.model)
        self.max_text_tokens = MAX_TEXT_TOKENS
        self.dimension = 0  # any, for the probe
        self.dimension = len(self._request([_PROBE_TEXT])[0])
        if dimension is not None and self.dimension != dimension:
            raise ConfigMismatchError(
                f"model {self._endpoint.redact(self.model)!r} at {self.url} gives "
                f"{self.dimension}-dimensional "
                f"vectors, the store holds {dimension}-dimensional ones",
                f"point {setting('embed_url')} at the server the store was built with",
            )
        self._tokenizer: Any = None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Count word pieces with the bundled MiniLM tokenizer: local, fast, an estimate."""
        if self._tokenizer is None:
            from ragcli.bundled import bundled_embedder_dir
            from ragcli.embedding.sentence_transformer import load_tokenizer

            self._tokenizer = load_tokenizer(bundled_embedder_dir())
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def load(self) -> None:
        """Do nothing: the server holds the weights."""

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        """Return one normalised vector per text, at most TEXTS_PER_REQUEST per request."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        step = max(1, min(batch_size, TEXTS_PER_REQUEST))
        rows: list[NDArray[np.float64]] = []
        for start in range(0, len(texts), step):
            rows.extend(self._request(texts[start : start + step]))
        matrix = np.vstack(rows)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix.astype(np.float32)

    def _request(self, texts: Sequence[str]) -> list[NDArray[np.float64]]:
        """POST one batch; return its vectors in input order, checked."""
        payload = {"model": self.model, "input": list(texts)}
        reply = self._client.post_json(
            "/embeddings", payload, self.options.timeout_s, self.options.reply_timeout_s
        )
        return _vectors(reply, len(texts), self.dimension, self._endpoint)


def _check_served(model: str, listed: list[str], end: Endpoint) -> None:
    """Refuse a model the server's (non-empty) listing does not name."""
    if listed and model not in listed:
        names = end.line(", ".join(repr(name) for name in listed[:5]))
        raise ConfigMismatchError(
            f"the {end.role.name} at {end.url} serves {names}, not {model!r}",
            f"point {setting('embed_url')} at a server of that model (a store keeps the embedder "
            f"it was built with), or for a new store pass {setting('embedder')} with a name it "
            "lists",
        )


def _vectors(reply: Any, count: int, dimension: int, end: Endpoint) -> list[NDArray[np.float64]]:
    """Return the `count` vectors of an embeddings reply, ordered by their `index`."""
    if isinstance(reply, dict) and "error" in reply:
        raise reported_error(reply["error"], end)
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, list):
        raise incompatible(end, f"no 'data' list in {snippet(reply, end)}")
    if len(data) != count:
        raise incompatible(end, f"{len(data)} embeddings for {count} texts")
    ordered: list[NDArray[np.float64] | None] = [None] * count
    for position, item in enumerate(data):
        index = item.get("index", position) if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or ordered[index] is not None:
            raise incompatible(end, f"embedding {position} has no usable index")
        ordered[index] = _vector(item.get("embedding"), dimension, end)
    return [vector for vector in ordered if vector is not None]


def _vector(embedding: Any, dimension: int, end: Endpoint) -> NDArray[np.float64]:
    """Check one embedding: a flat list of finite numbers, not all zero, of the dimension."""
    if not isinstance(embedding, list) or not embedding:
        raise incompatible(end, f"an embedding is not a list of numbers: {snippet(embedding, end)}")
    if isinstance(embedding[0], list):
        raise ModelError(
            f"the {end.role.name} at {end.url} sent one vector per token, not one per text",
            _POOLING_HINT,
        )
    try:
        vector = np.asarray(embedding, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer like 1e400
        raise incompatible(end, "an embedding holds something other than numbers") from None
    if vector.ndim != 1:
        raise incompatible(end, "an embedding holds something other than numbers")
    vector = _as_float32(vector, end)
    if dimension and len(vector) != dimension:
        raise ModelError(
            f"the {end.role.name} at {end.url} sent a {len(vector)}-dimensional vector "
            f"after {dimension}-dimensional ones",
            "check its model did not change (the store's vectors need the same one)",
        )
    return vector


def _as_float32(vector: NDArray[np.float64], end: Endpoint) -> NDArray[np.float64]:
    """The vector as the store keeps it (float32), refused unless finite and not all zero.

    A value beyond float32 (1e300) would be stored as inf, or normalise the vector to
    zeros; one too small for it (1e-300) leaves nothing to normalise.
    """
    with np.errstate(over="ignore", under="ignore"):
        narrow = vector.astype(np.float32)
    wrong = ~np.isfinite(narrow)
    if wrong.any():
        value = float(vector[wrong][0])
        raise incompatible(
            end, f"an embedding is not a finite, non-zero vector (it holds {value:g})"
        )
    if not narrow.any():
        raise incompatible(
            end, "an embedding is not a finite, non-zero vector (it is all zeros in float32)"
        )
    return narrow.astype(np.float64)  # whose squares cannot overflow while normalising


def require_server(spec: str, options: EmbedServerOptions | None) -> EmbedServerOptions:
    """Return the server options a `server:` spec needs; UsageError when none were given."""
    if options is None:
        raise UsageError(
            f"the store's embedder {spec!r} runs on an embedding server",
            f"pass {setting('embed_url')} http://HOST:PORT/v1, or set RAG_EMBED_URL or embed_url "
            "in the config file",
        )
    return options
