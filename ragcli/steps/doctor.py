"""`rag doctor`: check a store's parts against each other and repair what can be rebuilt.

Checked, in order: the database file (`PRAGMA quick_check`), the FTS5 keyword index
against the chunks (`integrity-check`), the cached vectors (length, finite values) and the
vector index against the manifest's record and the indexable chunks. Repairs use only what
is stored: SQLite's indexes and the keyword index are rebuilt from the chunk rows, damaged
vectors are embedded again with the store's embedder, the vector index is rebuilt from the
stored vectors. What cannot be rebuilt is named in `lost`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ragcli.errors import ModelError, StoreCorruptError, WalDeletedError
from ragcli.records import Manifest
from ragcli.steps.progress import Progress
from ragcli.store import DATABASE_NAME, Store, writer_lock

OK = "ok"
REPAIRED = "repaired"
DAMAGED = "damaged"


@dataclass(frozen=True)
class DoctorOptions:
    """Which store to examine, and whether to repair it."""

    store_dir: Path
    repair: bool = True
    threads: int | None = None
    batch_size: int = 64
    wait: bool = True


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


def doctor(options: DoctorOptions, progress: Progress) -> DoctorReport:
    """Examine a store; repair it unless told only to check (then under the writer lock)."""
    if not options.repair:
        return _examine(options, progress)
    with writer_lock(options.store_dir, options.wait, progress.note):
        return _examine(options, progress)


def _examine(options: DoctorOptions, progress: Progress) -> DoctorReport:
    report = DoctorReport(str(options.store_dir))
    database = options.store_dir / DATABASE_NAME
    try:
        store = Store.open(options.store_dir)
        manifest = store.manifest
    except WalDeletedError as exc:
        report.findings.append(Finding("database", DAMAGED, exc.message))
        report.lost.append("any commits in the deleted log since its last checkpoint; stop the "
                           "processes using the store and run `rag doctor` again")
        return report
    except StoreCorruptError as exc:
        report.findings.append(Finding("database", DAMAGED, exc.message))
        report.lost.append(f"everything in {database}: SQLite cannot open it; restore it from a "
                           "backup, or delete the store and ingest the files again")
        return report
    with store:
        _run(report, "database", lambda: _check_database(store, options.repair, report))
        _run(report, "keyword index",
             lambda: _check_keyword_index(store, options.repair, report))
        if manifest is None:
            return report
        _run(report, "vectors",
             lambda: _check_vectors(store, manifest, options, progress, report))
        _run(report, "vector index",
             lambda: _check_index(store, manifest, options.repair, report))
    return report


def _run(report: DoctorReport, check: str, examine: Callable[[], object]) -> None:
    """Run one check; damage that stops it (an unreadable table) is its verdict."""
    try:
        examine()
    except StoreCorruptError as exc:
        report.findings.append(Finding(check, DAMAGED, exc.message))


def _check_database(store: Store, repair: bool, report: DoctorReport) -> None:
    problems = store.quick_check()
    if not problems:
        report.findings.append(Finding("database", OK, "quick_check found no damage"))
        return
    first = f"quick_check: {problems[0]}" + (f" (+{len(problems) - 1} more)"
                                             if len(problems) > 1 else "")
    if repair:
        with contextlib.suppress(StoreCorruptError):  # what remains is reported below
            store.rebuild_keyword_index()
        if not store.quick_check():
            report.findings.append(Finding("database", REPAIRED, f"{first}; indexes rebuilt"))
            return
    report.findings.append(Finding("database", DAMAGED, first))
    if repair:
        unreadable = store.unreadable_documents()
        report.lost.extend(f"{path}: its rows cannot be read; ingest it again" for path in
                           unreadable)
        if not unreadable:
            report.lost.append(f"pages of {store.database_path} SQLite cannot repair ({first}); "
                               "restore it from a backup, or delete the store and ingest again")


def _check_keyword_index(store: Store, repair: bool, report: DoctorReport) -> None:
    problem = store.keyword_index_problem()
    if problem is None:
        report.findings.append(Finding("keyword index", OK, "matches the chunks"))
        return
    if repair:
        try:
            store.rebuild_keyword_index()
        except StoreCorruptError as exc:
            problem = f"{problem}; rebuilding failed: {exc.message}"
        else:
            if store.keyword_index_problem() is None:
                report.findings.append(Finding("keyword index", REPAIRED,
                                               f"{problem}; rebuilt from the chunks"))
                return
    report.findings.append(Finding("keyword index", DAMAGED, problem))


def _check_vectors(
    store: Store, manifest: Manifest, options: DoctorOptions, progress: Progress,
    report: DoctorReport,
) -> bool:
    """Check the cached vectors; re-embed damaged ones. Return whether any were replaced."""
    total, damaged = store.damaged_vectors(manifest.dimension)
    if not damaged:
        report.findings.append(Finding("vectors", OK, f"{total} vectors of "
                                       f"{manifest.dimension} finite values"))
        return False
    detail = (f"{len(damaged)} of {total} vectors damaged (wrong length or values not finite), "
              f"used by {store.chunks_using(damaged)} chunks")
    if not options.repair:
        report.findings.append(Finding("vectors", DAMAGED, detail))
        return False
    from ragcli.backends.registry import make_embedder
    from ragcli.steps.index import index_chunks

    try:
        embedder = make_embedder(manifest.embedder, options.threads)
    except ModelError as exc:
        report.findings.append(Finding("vectors", DAMAGED, f"{detail}; cannot re-embed: "
                                       f"{exc.message}"))
        report.lost.append(f"the vectors of {len(damaged)} texts: dense search misses them "
                           f"until the store's embedder {manifest.embedder} can embed them again")
        return False
    store.drop_embeddings(damaged)
    index_chunks(store, manifest, embedder, progress, options.batch_size, rebuild=True)
    report.findings.append(Finding("vectors", REPAIRED, f"{detail}; embedded again with "
                                   f"{manifest.embedder}"))
    return True


def _check_index(store: Store, manifest: Manifest, repair: bool, report: DoctorReport) -> None:
    from ragcli.steps.index import update_index

    problem = _index_problem(store, manifest)
    if problem is None:
        report.findings.append(Finding("vector index", OK, "matches the database"))
        return
    if repair:
        update_index(store, manifest, rebuild=True)
        if _index_problem(store, manifest) is None:
            report.findings.append(Finding("vector index", REPAIRED,
                                           f"{problem}; rebuilt from the stored vectors"))
            return
    report.findings.append(Finding("vector index", DAMAGED, problem))


def _index_problem(store: Store, manifest: Manifest) -> str | None:
    import numpy as np

    try:
        index = store.read_index(manifest.hnsw)
    except StoreCorruptError as exc:
        return exc.message
    wanted = store.indexable_ids()
    if index is None:
        return f"{store.index_path} is missing" if wanted.size else None
    if not index.verified:
        return "the manifest holds no checksum of the index (written by an older ragcli)"
    missing = np.setdiff1d(wanted, index.ids()).size
    if missing:
        return f"{missing} stored vectors are not in the index"
    return None
