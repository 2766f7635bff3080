"""Plain records passed between the layers: documents, chunks, hits, answers, reports.

`from ragcli.records import X` reaches every record; the modules group them by what they
describe.
"""

from __future__ import annotations

from ragcli.records.answers import (
    Answer,
    AnswerDone,
    AnswerSources,
    AnswerToken,
    Completion,
    Evidence,
    GenerationSettings,
    Passage,
    Prompt,
    StreamEvent,
    Timings,
)
from ragcli.records.documents import (
    Chunk,
    ChunkingSettings,
    Document,
    Found,
    Hit,
    HnswSettings,
    Manifest,
    Page,
    Skipped,
    SourceFile,
    StoredDocument,
    StoreStatus,
)
from ragcli.records.reports import (
    DAMAGED,
    OK,
    REPAIRED,
    DoctorReport,
    EvalReport,
    Finding,
    IndexReport,
    IngestReport,
    IngestResult,
    ModeReport,
    RemoveResult,
    RetrievalScores,
    SyncPlan,
)

__all__ = [
    "Answer",
    "AnswerDone",
    "AnswerSources",
    "AnswerToken",
    "Chunk",
    "ChunkingSettings",
    "Completion",
    "DAMAGED",
    "DoctorReport",
    "Document",
    "EvalReport",
    "Evidence",
    "Finding",
    "Found",
    "GenerationSettings",
    "Hit",
    "HnswSettings",
    "IndexReport",
    "IngestReport",
    "IngestResult",
    "Manifest",
    "ModeReport",
    "OK",
    "Page",
    "Passage",
    "Prompt",
    "REPAIRED",
    "RemoveResult",
    "RetrievalScores",
    "Skipped",
    "SourceFile",
    "StoreStatus",
    "StoredDocument",
    "StreamEvent",
    "SyncPlan",
    "Timings",
]
