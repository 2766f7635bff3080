"""Reports of the maintenance verbs: ingest and its dry-run plan, index, eval, doctor, config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragcli.output.console import display_name, rounded
from ragcli.records import (
    DoctorReport,
    EvalReport,
    IndexReport,
    IngestReport,
    SyncPlan,
    VersionReport,
)

if TYPE_CHECKING:
    from ragcli.settings import Settings


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


def format_plan(plan: SyncPlan) -> str:
    """What `ingest --dry-run` prints: one line a file to add, change or remove."""
    lines = [
        f"{'change' if str(item.path) in plan.stored else 'add'}\t{display_name(str(item.path))}"
        for item in plan.to_read
    ]
    lines += [f"remove\t{display_name(path)}" for path in plan.to_remove]
    lines.append(
        f"{len(plan.to_read)} to read (new or modified), {plan.unchanged} unchanged, "
        f"{len(plan.to_remove)} to remove"
    )
    return "\n".join(lines) + "\n"


def plan_json(plan: SyncPlan) -> dict[str, Any]:
    """What `ingest --dry-run --json` prints."""
    return {
        "add": [str(i.path) for i in plan.to_read if str(i.path) not in plan.stored],
        "change": [str(i.path) for i in plan.to_read if str(i.path) in plan.stored],
        "remove": list(plan.to_remove),
        "unchanged": plan.unchanged,
    }


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


def eval_json(report: EvalReport) -> dict[str, Any]:
    """What `rag eval --json` prints (keys are a stable contract)."""
    return {
        "dataset": report.dataset,
        "split": report.split,
        "documents": report.documents,
        "chunks": report.chunks,
        "queries": report.queries,
        "hnsw_recall_at_10": rounded(report.hnsw_recall_at_10),
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


def format_doctor(report: DoctorReport) -> str:
    """One line a check, what was lost, then the verdict."""
    width = max((len(f.check) for f in report.findings), default=0)
    lines = [f"{f.check:<{width}}  {f.status:<8}  {f.detail}" for f in report.findings]
    lines += [f"lost: {item}" for item in report.lost]
    store = display_name(report.store)
    if not report.healthy:
        lines.append(f"damage remains in {store}")
    elif report.repaired:
        lines.append(f"{store} is repaired")
    else:
        lines.append(f"{store} is healthy")
    return "\n".join(lines) + "\n"


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


def format_settings(settings: Settings) -> str:
    """What `rag config` prints: each setting, its value and where it came from."""
    state = "" if settings.config.exists else " (not present)"
    lines = [f"config file: {display_name(str(settings.config.path))}{state}"]
    shown = settings.shown()
    width = max(len(s.key) for s in shown)
    for setting in shown:
        value = "(none)" if setting.value is None else display_name(str(setting.value))
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


def format_version(report: VersionReport) -> str:
    """What `rag --version` prints."""
    return f"ragcli {report.ragcli}\n"


def version_json(report: VersionReport) -> dict[str, Any]:
    """What `rag --version --json` prints: each version, null for a package not installed."""
    return {
        "ragcli": report.ragcli,
        "python": report.python,
        "llama.cpp": report.llama_cpp,
        "llama.cpp_commit": report.llama_cpp_commit,
        "packages": dict(report.packages),
    }
