"""Documents as read and stored: files, pages, chunks, hits, and the store's manifest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Page:
    """Text of one PDF page (number set), or of a block of a text file (number None).

    Large text files arrive as several blocks; first_line and first_char place a block in
    its file so chunks keep file-wide line numbers and offsets. `ocr`: the text was read
    from the page's image (a scanned PDF page, an image file), not from a text layer.
    """

    number: int | None
    text: str
    first_line: int = 1
    first_char: int = 0
    ocr: bool = False


@dataclass(frozen=True)
class SourceFile:
    """A file on disk as seen before loading: identity and content fingerprint."""

    path: str
    size: int
    mtime: float
    sha256: str


@dataclass(frozen=True)
class Found:
    """A supported file to ingest: its resolved path (read and stored), and how it was reached.

    One file is one document whatever the route to it (a linked folder, a `..` path), so
    `path` is resolved through every link; `given` is the path as named or joined, which
    stores written before kept.
    """

    path: Path
    kind: str
    root: Path
    given: Path


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
    # Its text was read by OCR from an image of the page.
    ocr: bool = False

    @property
    def embed_text(self) -> str:
        """Text given to the embedder: the heading path gives the chunk its context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk, the score that ranked it, and its score in each retrieval mode.

    `score` is the cosine similarity in dense mode, BM25 in keyword mode and the fused
    score in hybrid mode; `dense` and `keyword` are None where that mode did not score it.
    `store` names the store it came from (locations.store_labels), "" until it is set.
    """

    chunk: Chunk
    score: float
    dense: float | None = None
    keyword: float | None = None
    store: str = ""


@dataclass(frozen=True)
class SearchResult:
    """The hits of one query, and the seconds since the search began (loading included)."""

    query: str
    hits: list[Hit]
    elapsed_s: float


@dataclass(frozen=True)
class ChunkingSettings:
    """How documents are split; recorded in the store's manifest."""

    chunk_tokens: int
    overlap_tokens: int


# What a new store is split with unless --chunk-tokens or --overlap-tokens say otherwise.
DEFAULT_CHUNKING = ChunkingSettings(chunk_tokens=200, overlap_tokens=32)


@dataclass(frozen=True)
class HnswSettings:
    """FAISS HNSW parameters; recorded in the store's manifest."""

    m: int = 32
    ef_construction: int = 200
    # 128 gave recall@10 0.984-0.997 on random 384-d vectors; 256 gave >= 0.999.
    ef_search: int = 256


DEFAULT_HNSW = HnswSettings()


@dataclass(frozen=True)
class RaySettings:
    """Embed on Ray: where (a local runtime or a cluster's address) and with how many workers."""

    address: str  # "local" starts a runtime in this process; else ray.init's address
    workers: int | None  # None: one per CPU of the runtime or cluster


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
    # Where the vectors live: `faiss` (the store's index file) or a vector database's URI.
    vectors: str = "faiss"
    # The collection holding them in a vector database (index HNSW, metric IP, with the
    # M and efConstruction of `hnsw`: Milvus does not report those back).
    vector_collection: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A file ingest did not take, and why."""

    path: str
    reason: str
    failed: bool = False


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
    # Why the index file cannot be used (another store's, another state's, damaged), or
    # how the vector store disagrees with the database; None when all is well.
    index_problem: str | None = None
    # Where the vectors live (the manifest's URI) and how many the vector store holds.
    vectors: str | None = None
    vector_count: int | None = None


@dataclass(frozen=True)
class StoreSummary:
    """A store in the data directory as `rag stores` lists it.

    The counts are None (size 0), and `problem` says why, when the store cannot be read.
    `default` marks the store(s) commands use without --store (RAG_STORE, config, default).
    """

    name: str
    path: str
    documents: int | None
    chunks: int | None
    embedder: str | None
    size_bytes: int
    default: bool
    problem: str | None = None
