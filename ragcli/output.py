"""Rendering: results to stdout (text or JSON), progress and messages to stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ragcli.records import (
    Answer,
    Hit,
    IndexReport,
    IngestReport,
    StoredDocument,
    StoreStatus,
)

if TYPE_CHECKING:
    from ragcli.steps.ingest import SyncPlan

stderr = Console(stderr=True, highlight=False)


def display_path(path: str) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def error(message: str) -> None:
    """Print one error line on stderr."""
    stderr.print(f"rag: error: {message}", markup=False, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """Print one informational line on stderr."""
    stderr.print(f"rag: {message}", markup=False, highlight=False, soft_wrap=True)


def write(text: str, stream: TextIO | None = None) -> None:
    """Write result text to stdout and flush, so pipes see it at once."""
    target = stream or sys.stdout
    target.write(text)
    target.flush()


def print_json(document: Any) -> None:
    """Print one JSON document on one line of stdout."""
    write(json.dumps(document, ensure_ascii=False) + "\n")


def hit_json(hit: Hit) -> dict[str, Any]:
    """A source as it appears in --json output (keys are a stable contract)."""
    chunk = hit.chunk
    return {
        "path": chunk.path,
        "page": chunk.page,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "score": round(hit.score, 4),
        "text": chunk.text,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer as it appears in --json output."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "answerable": answer.answerable,
        "sources": [hit_json(hit) for hit in answer.hits],
    }


def format_sources(hits: tuple[Hit, ...]) -> str:
    """The human list of sources printed after an answer."""
    if not hits:
        return ""
    lines = ["", "Sources:"]
    for number, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        where = display_path(chunk.path)
        if chunk.page is not None:
            where += f", page {chunk.page}"
        span = f"line {chunk.start_line}" if chunk.start_line == chunk.end_line else (
            f"lines {chunk.start_line}-{chunk.end_line}"
        )
        lines.append(f"  [{number}] {where}, {span} (score {hit.score:.2f})")
    return "\n".join(lines) + "\n"


def format_ingest(report: IngestReport, index: IndexReport | None) -> str:
    """The one-paragraph summary of an ingest run."""
    text = (
        f"ingested {report.added} new and {report.updated} changed files "
        f"({report.chunks_added} chunks); {report.unchanged} unchanged; "
        f"{report.removed} removed; {len(report.skipped)} skipped"
    )
    if index is not None:
        text += f"; {format_index(index)}"
    return text + "\n"


def format_index(report: IndexReport) -> str:
    """The summary of an index run."""
    how = "rebuilt" if report.rebuilt else "updated"
    text = (
        f"embedded {report.embedded} chunks, index {how} with {report.indexed} vectors "
        f"in {report.seconds:.1f}s"
    )
    if report.tombstones_dropped:
        text += f" ({report.tombstones_dropped} removed chunks dropped)"
    return text


def format_plan(plan: SyncPlan) -> str:
    """What `ingest --dry-run` prints: one line a file to add, change or remove."""
    lines = [
        f"{'change' if str(item.path) in plan.stored else 'add'}\t{item.path}"
        for item in plan.to_read
    ]
    lines += [f"remove\t{path}" for path in plan.to_remove]
    lines.append(
        f"{len(plan.to_read)} to read (new or modified), {plan.unchanged} unchanged, "
        f"{len(plan.to_remove)} to remove"
    )
    return "\n".join(lines) + "\n"


def document_json(document: StoredDocument) -> dict[str, Any]:
    """A stored document as `rag sources --json` prints it."""
    return {
        "path": document.path,
        "kind": document.kind,
        "size": document.size,
        "sha256": document.sha256,
        "chunks": document.chunks,
        "ingested_at": round(document.ingested_at, 3),
    }


def format_documents(documents: list[StoredDocument]) -> str:
    """What `rag sources` prints: chunk count, kind and path, a line each."""
    lines = [f"{d.chunks:7d}  {d.kind:8}  {display_path(d.path)}" for d in documents]
    total = sum(d.chunks for d in documents)
    lines.append(f"{len(documents)} documents, {total} chunks")
    return "\n".join(lines) + "\n"


def status_json(status: StoreStatus, llm: str) -> dict[str, Any]:
    """What `rag status --json` prints; llm is the model `ask` uses by default."""
    manifest = status.manifest
    return {
        "store": status.path,
        "documents": status.documents,
        "chunks": status.chunks,
        "embedded": status.embedded,
        "indexed": status.indexed,
        "tombstones": status.tombstones,
        "index_bytes": status.index_bytes,
        "embedder": manifest.embedder if manifest else None,
        "dimension": manifest.dimension if manifest else None,
        "chunking": vars(manifest.chunking) if manifest else None,
        "hnsw": vars(manifest.hnsw) if manifest else None,
        "llm": llm,
    }


def format_status(status: StoreStatus, llm: str) -> str:
    """What `rag status` prints."""
    data = status_json(status, llm)
    width = max(len(key) for key in data)
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"{key.ljust(width)}  {value if value is not None else '-'}")
    return "\n".join(lines) + "\n"


class _RateColumn(ProgressColumn):
    """Units per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed else "", style="progress.data.speed")


class ProgressBar:
    """A rich progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, quiet: bool = False) -> None:
        self._quiet = quiet
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if not quiet and stderr.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )

    def __enter__(self) -> ProgressBar:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, label: str, total: int) -> None:
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(label, total=total)

    def advance(self, units: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, units)

    def note(self, message: str) -> None:
        if not self._quiet:
            note(message)
