"""What the verbs report: ingest, index, removal, evaluation and doctor results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from ragcli.records.documents import Found, Skipped

# A doctor check's verdict.
OK = "ok"
REPAIRED = "repaired"
DAMAGED = "damaged"


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
class SyncPlan:
    """What a sync will do: files to read, stored documents to remove or to rename.

    A rename moves a document stored (by an older ragcli) under the path it was reached
    by to its resolved path, keeping its chunks and vectors.
    """

    to_read: list[Found]
    unchanged: int
    to_remove: list[str]
    stored: set[str]
    to_rename: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class IngestResult:
    """What ingest did (or, for a dry run, would do), and what indexing did."""

    report: IngestReport
    index: IndexReport | None
    plan: SyncPlan | None = None


@dataclass(frozen=True)
class FileChange:
    """What a watch did about one file: added, updated, removed, renamed or skipped."""

    action: str
    path: str
    # Chunks stored (added, updated).
    chunks: int | None = None
    # Where the document was before (renamed).
    old_path: str | None = None
    # Why the file was passed over (skipped).
    reason: str | None = None
    # Whether a skipped file could not be read (an error), or was left out on purpose
    # (a link out of the folder, an unsupported format: a note, as `rag ingest` says them).
    failed: bool = True


@dataclass(frozen=True)
class WatchStarted:
    """The first sync of watched folders is done; their changes are followed from here."""

    result: IngestResult
    folders: list[str]


@dataclass(frozen=True)
class WatchStopped:
    """Watching ended on Ctrl-C or SIGTERM."""

    folders: list[str]
    # A write was under way: its open transaction was rolled back (what it committed stays).
    interrupted_write: bool


# What `rag ingest --watch` reports, in order: started, file changes, stopped.
WatchEvent: TypeAlias = WatchStarted | FileChange | WatchStopped


@dataclass(frozen=True)
class RemoveResult:
    """Which documents were removed."""

    paths: list[str]
    indexed: int


@dataclass(frozen=True)
class RetrievalScores:
    """Mean retrieval metrics over the judged queries of a run."""

    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    queries: int


@dataclass(frozen=True)
class ModeReport:
    """The figures of one retrieval mode."""

    mode: str
    scores: RetrievalScores
    latency_p50_ms: float
    latency_p95_ms: float


@dataclass(frozen=True)
class EvalReport:
    """What `rag eval` measured."""

    dataset: str
    split: str
    documents: int
    chunks: int
    queries: int
    modes: tuple[ModeReport, ...]
    hnsw_recall_at_10: float | None
    ingest_s: float


@dataclass(frozen=True)
class Finding:
    """The verdict on one part of the store."""

    check: str
    status: str
    detail: str


@dataclass
class DoctorReport:
    """Every part's verdict, and what was lost for good."""

    store: str
    findings: list[Finding] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Whether no damage remains (everything was sound or has been repaired)."""
        return not self.lost and all(f.status != DAMAGED for f in self.findings)

    @property
    def repaired(self) -> bool:
        """Whether anything was repaired."""
        return any(f.status == REPAIRED for f in self.findings)


@dataclass(frozen=True)
class VersionReport:
    """What `rag --version` reports: ragcli, Python, and the engines and models installed."""

    ragcli: str
    python: str
    # Installed distributions by name, None for one not installed.
    packages: dict[str, str | None]
    # The llama.cpp that llama-cpp-python was built from, as its build recorded it.
    llama_cpp: str | None
    llama_cpp_commit: str | None
