"""Plain records passed between the layers: documents, chunks, hits, answers, reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True)
class Page:
    """Text of one PDF page (number set), or of a block of a text file (number None).

    Large text files arrive as several blocks; first_line and first_char place a block in
    its file so chunks keep file-wide line numbers and offsets.
    """

    number: int | None
    text: str
    first_line: int = 1
    first_char: int = 0


@dataclass(frozen=True)
class SourceFile:
    """A file on disk as seen before loading: identity and content fingerprint."""

    path: str
    size: int
    mtime: float
    sha256: str


@dataclass(frozen=True)
class Document:
    """A loaded file: its identity and its text, page by page."""

    source: SourceFile
    kind: str
    pages: Iterable[Page]


@dataclass(frozen=True)
class Chunk:
    """A span of a document small enough for the embedder to read whole."""

    text: str
    path: str
    page: int | None
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    heading: str = ""
    id: int | None = None

    @property
    def embed_text(self) -> str:
        """Text given to the embedder: the heading path gives the chunk its context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk, the score that ranked it, and its score in each retrieval mode.

    `score` is the cosine similarity in dense mode, BM25 in keyword mode and the fused
    score in hybrid mode; `dense` and `keyword` are None where that mode did not score it.
    """

    chunk: Chunk
    score: float
    dense: float | None = None
    keyword: float | None = None


@dataclass(frozen=True)
class Passage:
    """One numbered block of prompt context: retrieved chunks merged, deduplicated, cut.

    `text` is exactly what the prompt holds; lines are those of `text` in the file, and
    `start_char` is where `text` starts in the file's (or the PDF page's) text.
    """

    number: int
    path: str
    page: int | None
    start_line: int
    end_line: int
    heading: str
    text: str
    hits: tuple[Hit, ...]
    start_char: int = 0

    @property
    def score(self) -> float:
        """The best score among the chunks this passage came from."""
        return max(hit.score for hit in self.hits)


@dataclass(frozen=True)
class ChunkingSettings:
    """How documents are split; recorded in the store's manifest."""

    chunk_tokens: int = 200
    overlap_tokens: int = 32


@dataclass(frozen=True)
class HnswSettings:
    """FAISS HNSW parameters; recorded in the store's manifest."""

    m: int = 32
    ef_construction: int = 200
    # 128 gave recall@10 0.984-0.997 on random 384-d vectors; 256 gave >= 0.999.
    ef_search: int = 256


@dataclass(frozen=True)
class Manifest:
    """How a store was built; `ask` and `index` trust it over flags."""

    format_version: int
    embedder: str
    dimension: int
    max_text_tokens: int
    normalized: bool
    chunking: ChunkingSettings
    hnsw: HnswSettings


@dataclass(frozen=True)
class Skipped:
    """A file ingest did not take, and why."""

    path: str
    reason: str
    failed: bool = False


@dataclass
class IngestReport:
    """What an ingest run did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def failed(self) -> list[Skipped]:
        """Files that should have been ingested but could not be read."""
        return [s for s in self.skipped if s.failed]


@dataclass(frozen=True)
class IndexReport:
    """What an index run did."""

    embedded: int
    indexed: int
    rebuilt: bool
    tombstones_dropped: int
    seconds: float


@dataclass(frozen=True)
class StoredDocument:
    """A document as the store knows it."""

    path: str
    kind: str
    size: int
    sha256: str
    ingested_at: float
    chunks: int


@dataclass(frozen=True)
class StoreStatus:
    """What a store holds."""

    path: str
    documents: int
    chunks: int
    embedded: int
    indexed: int
    tombstones: int
    index_bytes: int
    manifest: Manifest | None
    # Why the index file cannot be used (another store's, another state's, damaged), or None.
    index_problem: str | None = None


@dataclass(frozen=True)
class Evidence:
    """Where an answer stands in a passage: the exact span and the sentence around it.

    `line` is the file line of the span; `start_char`/`end_char` place the span in the
    file's text (a PDF page's text for PDFs).
    """

    passage: int
    path: str
    page: int | None
    line: int
    sentence: str
    start_char: int
    end_char: int


@dataclass(frozen=True)
class Answer:
    """A generated answer, the numbered passages it was given, and what supports it.

    `grounded` is True when the answer's content words (numbers, names, links) all appear in
    the passages; `evidence` is the sentence it was found in, when one was; `cited` holds
    the numbers of the passages its text cites as [n].
    """

    question: str
    text: str
    passages: tuple[Passage, ...]
    answerable: bool = True
    evidence: Evidence | None = None
    grounded: bool = False
    strategy: str = ""
    cited: frozenset[int] = frozenset()


@dataclass(frozen=True)
class AnswerToken:
    """A stream event: a piece of the answer's text as it is generated."""

    text: str


@dataclass(frozen=True)
class AnswerSources:
    """A stream event: the passages an answer was given, sent once it is complete."""

    question: str
    passages: tuple[Passage, ...]
    cited: frozenset[int]


@dataclass(frozen=True)
class AnswerDone:
    """A stream event, the last: the answer and what supports it."""

    answer: Answer


StreamEvent: TypeAlias = AnswerToken | AnswerSources | AnswerDone
"""What `ask --stream-json` sends, one JSON line each: tokens, then sources, then done."""


@dataclass(frozen=True)
class Prompt:
    """What is sent to the LLM: completion text, or chat messages for a chat template."""

    text: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    stop: tuple[str, ...] = ()

    @property
    def is_chat(self) -> bool:
        """Whether this prompt goes through the model's chat template."""
        return bool(self.messages)


@dataclass(frozen=True)
class Completion:
    """A whole generated answer and how likely the model found it.

    `logprob` is the sum of the log-probabilities of its tokens and of the token that ended
    it (None from a backend that does not report them); `looped` says generation was cut
    at a repetition loop, `text` then holds what came before it.
    """

    text: str
    logprob: float | None
    tokens: int
    looped: bool = False


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings for one answer."""

    max_tokens: int = 256
    temperature: float = 0.0
