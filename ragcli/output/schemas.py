"""The shapes of the JSON documents the renderers print, as types a JSON schema is made from.

`rag mcp` publishes them as its tools' output schemas. The keys are those of hit_json,
answer_json, document_json and status_json (a stable contract); tests/engines/test_mcp.py checks
that a tool's result equals the command's --json output, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

# pydantic, which turns these into JSON schemas, needs typing_extensions' TypedDict below
# Python 3.12 (typing_extensions is a dependency of Typer and of the MCP SDK).
from typing_extensions import TypedDict


class HitJson(TypedDict):
    """One `rag search --json` line."""

    query: str
    rank: int
    store: str
    path: str
    page: int | None
    line: int
    start_line: int
    end_line: int
    heading: str
    score: float
    scores: dict[str, float | None]
    text: str
    ocr: bool


class SearchJson(TypedDict):
    """The hits of one query, best first, and the mode that ranked them."""

    query: str
    mode: str
    hits: list[HitJson]


class EvidenceJson(TypedDict):
    """The passage sentence that supports an answer."""

    passage: int
    path: str
    page: int | None
    line: int
    sentence: str
    start_char: int
    end_char: int


class SourceJson(TypedDict):
    """A numbered passage an answer was given."""

    number: int
    store: str
    path: str
    page: int | None
    start_line: int
    end_line: int
    heading: str
    score: float
    cited: bool
    text: str
    ocr: bool


class AnswerJson(TypedDict):
    """What `rag ask --json` prints for one question."""

    question: str
    answer: str
    answerable: bool
    grounded: bool
    evidence: EvidenceJson | None
    strategy: str
    sources: list[SourceJson]


class DocumentJson(TypedDict):
    """One entry of `rag sources --json`."""

    path: str
    kind: str
    size: int
    sha256: str
    chunks: int
    ingested_at: float


class SourcesJson(TypedDict):
    """The stored documents, as `rag sources --json` lists them."""

    documents: list[DocumentJson]


class StatusJson(TypedDict):
    """What `rag status --json` prints."""

    store: str
    documents: int
    chunks: int
    embedded: int
    indexed: int
    tombstones: int
    index_bytes: int
    index_problem: str | None
    vectors: str | None
    vector_count: int | None
    embedder: str | None
    dimension: int | None
    chunking: dict[str, Any] | None
    hnsw: dict[str, Any] | None
    llm: str
