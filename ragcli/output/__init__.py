"""Rendering: results to stdout (text or JSON), progress and messages to stderr."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TextIO

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
    AnswerDone,
    AnswerSources,
    AnswerToken,
    DoctorReport,
    EvalReport,
    Evidence,
    Hit,
    IndexReport,
    IngestReport,
    Passage,
    StoredDocument,
    StoreStatus,
    StreamEvent,
    SyncPlan,
)

if TYPE_CHECKING:
    from ragcli.answering.prompts import PromptParts
    from ragcli.settings import Settings

stderr = Console(stderr=True, highlight=False)


# Characters a terminal may act on rather than show: C0 controls but tab and newline, DEL,
# C1 controls (U+009B is a CSI on some terminals), line/paragraph separators, bidirectional
# overrides that make text read other than it is stored, and lone surrogates (the bytes of
# a file name that is not UTF-8, which could not even be encoded to stdout).
_UNSAFE_BEYOND_C0 = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = "\x00-\x08\x0b-\x1f" + _UNSAFE_BEYOND_C0
_UNSAFE_TEXT = re.compile(f"[{_UNSAFE}]")
_UNSAFE_JSON = re.compile(f"[{_UNSAFE_BEYOND_C0}]")  # json.dumps escapes C0 itself
_UNSAFE_NAME = re.compile(f'[{_UNSAFE}\t\n"\\\\]')


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    named = {"\t": "\\t", "\n": "\\n", '"': '\\"', "\\": "\\\\"}.get(char)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """The text with every character a terminal could act on written as an escape."""
    return _UNSAFE_TEXT.sub(_escaped, text)


def display_path(path: str) -> str:
    """A path relative to the working directory when it lies below it, safe to print.

    A name holding control characters, a newline or bytes that are not UTF-8 is shown in
    double quotes with escapes, so it can neither forge output lines nor drive the terminal.
    """
    try:
        shown = str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        shown = path
    if _UNSAFE_TEXT.search(shown) or "\n" in shown or "\t" in shown:
        return '"' + _UNSAFE_NAME.sub(_escaped, shown) + '"'
    return shown


def error(message: str) -> None:
    """Print one error line on stderr."""
    _say(f"rag: error: {message}")


def note(message: str) -> None:
    """Print one informational line on stderr."""
    _say(f"rag: {message}")


def _say(line: str) -> None:
    one_line = safe_text(line).replace("\n", "\\n").replace("\t", " ")
    stderr.print(one_line, markup=False, highlight=False, emoji=False, soft_wrap=True)


class OutputClosed(Exception):  # noqa: N818 - a state, not a failure
    """Whoever read stdout has gone (`| head`): stop quietly.

    Not an OSError on purpose: Typer turns a broken pipe into a silent exit code 1.
    """


def write(text: str, stream: TextIO | None = None) -> None:
    """Write result text to stdout and flush, so pipes see it at once."""
    target = stream or sys.stdout
    try:
        target.write(safe_text(text))
        target.flush()
    except BrokenPipeError:
        raise OutputClosed from None


def print_json(document: Any) -> None:
    """Print one JSON document on one line of stdout."""
    # JSON escapes C0 controls itself; the rest of the unsafe characters (and lone
    # surrogates, which json.loads turns back into the same file name) become \\uXXXX.
    text = json.dumps(document, ensure_ascii=False)
    write(_UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def hit_json(hit: Hit, query: str, rank: int, mode: str) -> dict[str, Any]:
    """One `rag search` result as it appears in --json output (keys are a stable contract)."""
    chunk = hit.chunk
    line, _ = snippet(hit, query)
    scores = {"dense": _rounded(hit.dense), "keyword": _rounded(hit.keyword)}
    if mode == "hybrid":
        scores["hybrid"] = _rounded(hit.score)
    return {
        "query": query,
        "rank": rank,
        "path": chunk.path,
        "page": chunk.page,
        "line": line,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "heading": chunk.heading,
        "score": _rounded(hit.score),
        "scores": scores,
        "text": chunk.text,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


_SNIPPET_CHARS = 160


def snippet(hit: Hit, query: str) -> tuple[int, str]:
    """Return the chunk's line that best shows the match (its line number and text)."""
    from ragcli.retrieval.keywords import query_terms

    terms = query_terms(query)
    lines = hit.chunk.text.split("\n")
    best, best_count = 0, -1
    for offset, text in enumerate(lines):
        lowered = text.lower()
        count = sum(term in lowered for term in terms) if text.strip() else -1
        if count > best_count:
            best, best_count = offset, count
    return hit.chunk.start_line + best, _window(" ".join(lines[best].split()), terms)


def _window(text: str, terms: list[str]) -> str:
    """Cut a long line to about _SNIPPET_CHARS around its first query term, at spaces."""
    if len(text) <= _SNIPPET_CHARS:
        return text
    lowered = text.lower()
    found = [p for p in (lowered.find(term) for term in terms) if p >= 0]
    start = max(0, min(found, default=0) - _SNIPPET_CHARS // 4)
    if start:
        start = text.find(" ", start) + 1 or start
    piece = text[start : start + _SNIPPET_CHARS]
    if start + _SNIPPET_CHARS < len(text):
        piece = piece.rsplit(" ", 1)[0] + " …"
    return ("… " if start else "") + piece


def format_hit(hit: Hit, query: str) -> str:
    """One `rag search` result as `path:line: snippet`, the format of `grep -n` and editors."""
    line, text = snippet(hit, query)
    page = f"[page {hit.chunk.page}] " if hit.chunk.page is not None else ""
    return f"{display_path(hit.chunk.path)}:{line}: {page}{text}\n"


def source_json(passage: Passage, cited: bool) -> dict[str, Any]:
    """A source of an answer as it appears in --json output (keys are a stable contract)."""
    return {
        "number": passage.number,
        "path": passage.path,
        "page": passage.page,
        "start_line": passage.start_line,
        "end_line": passage.end_line,
        "heading": passage.heading,
        "score": round(passage.score, 4),
        "cited": cited,
        "text": passage.text,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer as it appears in --json output."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "answerable": answer.answerable,
        "grounded": answer.grounded,
        "evidence": None if answer.evidence is None else evidence_json(answer.evidence),
        "strategy": answer.strategy,
        "sources": _sources_json(answer.passages, answer.cited),
    }


def _sources_json(passages: tuple[Passage, ...], cited: frozenset[int]) -> list[dict[str, Any]]:
    return [source_json(p, p.number in cited) for p in passages]


def event_json(event: StreamEvent) -> dict[str, Any]:
    """One `ask --stream-json` event as its NDJSON line holds it (keys are a stable contract)."""
    if isinstance(event, AnswerToken):
        return {"type": "token", "text": event.text}
    if isinstance(event, AnswerSources):
        sources = _sources_json(event.passages, event.cited)
        return {"type": "sources", "question": event.question, "sources": sources}
    document = answer_json(event.answer)
    return {"type": "done", **{k: v for k, v in document.items() if k != "sources"}}


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    """The passage sentence that supports an answer, as it appears in --json output."""
    return {
        "passage": evidence.passage,
        "path": evidence.path,
        "page": evidence.page,
        "line": evidence.line,
        "sentence": evidence.sentence,
        "start_char": evidence.start_char,
        "end_char": evidence.end_char,
    }


def format_support(answer: Answer) -> str:
    """The lines under an answer: its quoted evidence, or a warning that nothing supports it."""
    if not answer.answerable:
        return ""
    if answer.evidence is not None:
        evidence = answer.evidence
        where = f"{display_path(evidence.path)}:{evidence.line}"
        if evidence.page is not None:
            where += f" [page {evidence.page}]"
        return f'  "{evidence.sentence}" [{evidence.passage}] ({where})\n'
    if not answer.grounded:
        return (
            "  (!) not found in the passages: names or numbers in this answer may be "
            "invented; --strict declines such answers\n"
        )
    return ""


def context_json(question: str, context: str, passages: tuple[Passage, ...]) -> dict[str, Any]:
    """What `ask --context-only --json` prints: the context and its sources."""
    return {
        "question": question,
        "context": context,
        "sources": [source_json(p, False) for p in passages],
    }


def format_sources(passages: tuple[Passage, ...], cited: frozenset[int]) -> str:
    """The human list of sources printed after an answer, numbered as the prompt had them."""
    if not passages:
        return ""
    lines = ["", "Sources:"]
    for passage in passages:
        where = display_path(passage.path)
        if passage.page is not None:
            where += f", page {passage.page}"
        span = (
            f"line {passage.start_line}"
            if passage.start_line == passage.end_line
            else (f"lines {passage.start_line}-{passage.end_line}")
        )
        mark = " (cited)" if passage.number in cited else ""
        lines.append(f"  [{passage.number}] {where}, {span}{mark}")
    return "\n".join(lines) + "\n"


class AnswerRenderer(Protocol):
    """Prints one answer in one style: the text as it comes (if it can), then the rest."""

    on_text: Callable[[str], None] | None

    def begin(self, question: str) -> None:
        """Print what comes before the answer."""

    def end(self, question: str, answer: Answer) -> None:
        """Print what comes after the answer's text: support and sources."""


class TextAnswer:
    """The answer as it is generated, its support and numbered sources; `Q:` lines in batches."""

    def __init__(self, heading: bool) -> None:
        self.heading = heading
        self.on_text: Callable[[str], None] | None = write

    def begin(self, question: str) -> None:
        if self.heading:
            write(f"Q: {question}\n")

    def end(self, question: str, answer: Answer) -> None:
        write("\n" + format_support(answer) + format_sources(answer.passages, answer.cited))


class JsonAnswer:
    """One JSON document per answer, printed when it is complete."""

    on_text: Callable[[str], None] | None = None

    def begin(self, question: str) -> None:
        pass

    def end(self, question: str, answer: Answer) -> None:
        print_json(answer_json(answer))


class StreamAnswer:
    """NDJSON events: a token event per piece of text, then sources, then done."""

    def __init__(self) -> None:
        self.on_text: Callable[[str], None] | None = self._token

    def _token(self, text: str) -> None:
        print_json(event_json(AnswerToken(text)))

    def begin(self, question: str) -> None:
        pass

    def end(self, question: str, answer: Answer) -> None:
        print_json(event_json(AnswerSources(question, answer.passages, answer.cited)))
        print_json(event_json(AnswerDone(answer)))


def answer_renderer(style: str, heading: bool) -> AnswerRenderer:
    """Pick how answers are printed: "text", "json" or "stream" (NDJSON events)."""
    if style == "json":
        return JsonAnswer()
    if style == "stream":
        return StreamAnswer()
    return TextAnswer(heading)


def print_context(question: str, parts: PromptParts, as_json: bool) -> None:
    """Print what `ask --context-only` found: the packed context, as text or JSON."""
    if as_json:
        print_json(context_json(question, parts.context, parts.passages))
    elif parts.passages:
        write(parts.context + "\n")
    else:
        note(f"nothing relevant found for: {question}")


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


def index_json(report: IndexReport) -> dict[str, Any]:
    """What `index --json` and `compact --json` print (keys are a stable contract)."""
    return {
        "embedded": report.embedded,
        "indexed": report.indexed,
        "rebuilt": report.rebuilt,
        "tombstones_dropped": report.tombstones_dropped,
        "seconds": round(report.seconds, 3),
    }


def ingest_json(report: IngestReport, index: IndexReport | None) -> dict[str, Any]:
    """What `ingest --json` prints."""
    return {
        "added": report.added,
        "changed": report.updated,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "chunks_added": report.chunks_added,
        "skipped": [
            {"path": s.path, "reason": s.reason, "failed": s.failed} for s in report.skipped
        ],
        "index": None if index is None else index_json(index),
    }


def plan_json(plan: SyncPlan) -> dict[str, Any]:
    """What `ingest --dry-run --json` prints."""
    return {
        "add": [str(i.path) for i in plan.to_read if str(i.path) not in plan.stored],
        "change": [str(i.path) for i in plan.to_read if str(i.path) in plan.stored],
        "remove": list(plan.to_remove),
        "unchanged": plan.unchanged,
    }


def format_settings(settings: Settings) -> str:
    """What `rag config` prints: each setting, its value and where it came from."""
    state = "" if settings.config.exists else " (not present)"
    lines = [f"config file: {settings.config.path}{state}"]
    shown = settings.shown()
    width = max(len(s.key) for s in shown)
    for setting in shown:
        value = "(none)" if setting.value is None else str(setting.value)
        lines.append(f"{setting.key.ljust(width)}  {value}  [{setting.source}]")
    return "\n".join(lines) + "\n"


def settings_json(settings: Settings) -> dict[str, Any]:
    """What `rag config --json` prints."""
    return {
        "config_file": str(settings.config.path),
        "config_file_exists": settings.config.exists,
        "settings": {
            s.key: {
                "value": str(s.value) if isinstance(s.value, Path) else s.value,
                "source": s.source,
            }
            for s in settings.shown()
        },
    }


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
        "index_problem": status.index_problem,
        "embedder": manifest.embedder if manifest else None,
        "dimension": manifest.dimension if manifest else None,
        "chunking": vars(manifest.chunking) if manifest else None,
        "hnsw": vars(manifest.hnsw) if manifest else None,
        "llm": llm,
    }


def eval_json(report: EvalReport) -> dict[str, Any]:
    """What `rag eval --json` prints (keys are a stable contract)."""
    return {
        "dataset": report.dataset,
        "split": report.split,
        "documents": report.documents,
        "chunks": report.chunks,
        "queries": report.queries,
        "hnsw_recall_at_10": _rounded(report.hnsw_recall_at_10),
        "ingest_s": round(report.ingest_s, 2),
        "modes": {
            mode.mode: {
                "ndcg_at_10": round(mode.scores.ndcg_at_10, 4),
                "recall_at_10": round(mode.scores.recall_at_10, 4),
                "recall_at_100": round(mode.scores.recall_at_100, 4),
                "mrr_at_10": round(mode.scores.mrr_at_10, 4),
                "latency_p50_ms": round(mode.latency_p50_ms, 2),
                "latency_p95_ms": round(mode.latency_p95_ms, 2),
            }
            for mode in report.modes
        },
    }


def format_eval(report: EvalReport) -> str:
    """The human table of `rag eval`."""
    lines = [
        f"{report.dataset} ({report.split}): {report.queries} queries, "
        f"{report.documents:,} documents, {report.chunks:,} chunks",
        f"{'mode':<8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7}",
    ]
    for mode in report.modes:
        scores = mode.scores
        lines.append(
            f"{mode.mode:<8} {scores.ndcg_at_10:>8.4f} {scores.recall_at_10:>7.4f} "
            f"{scores.recall_at_100:>7.4f} {scores.mrr_at_10:>7.4f} "
            f"{mode.latency_p50_ms:>7.1f} {mode.latency_p95_ms:>7.1f}"
        )
    if report.hnsw_recall_at_10 is not None:
        lines.append(f"HNSW recall@10 against exact search: {report.hnsw_recall_at_10:.4f}")
    return "\n".join(lines) + "\n"


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


def doctor_json(report: DoctorReport) -> dict[str, Any]:
    """What `rag doctor --json` prints (keys are a stable contract)."""
    return {
        "store": report.store,
        "healthy": report.healthy,
        "repaired": report.repaired,
        "checks": [
            {"check": f.check, "status": f.status, "detail": f.detail} for f in report.findings
        ],
        "lost": list(report.lost),
    }


def format_doctor(report: DoctorReport) -> str:
    """One line a check, what was lost, then the verdict."""
    width = max((len(f.check) for f in report.findings), default=0)
    lines = [f"{f.check:<{width}}  {f.status:<8}  {f.detail}" for f in report.findings]
    lines += [f"lost: {item}" for item in report.lost]
    if not report.healthy:
        lines.append(f"damage remains in {report.store}")
    elif report.repaired:
        lines.append(f"{report.store} is repaired")
    else:
        lines.append(f"{report.store} is healthy")
    return "\n".join(lines) + "\n"
