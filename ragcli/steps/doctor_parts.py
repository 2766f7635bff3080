"""Doctor's checks of what a store derives from its rows, each rebuilt from them on repair.

The keyword index (FTS5's `integrity-check`, rebuilt from the chunks), the cached vectors
(length, finite values, not all zero; embedded again with the store's embedder) and the
vector index (against the manifest's record and the indexable chunks; rebuilt from the
stored vectors). steps/doctor.py opens the store, mends its database and runs these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragcli.errors import ModelError, StoreCorruptError, StoreWriteError, UsageError
from ragcli.progress import Progress
from ragcli.records import DAMAGED, OK, REPAIRED, DoctorReport, Finding, Manifest
from ragcli.store import Store

if TYPE_CHECKING:
    from ragcli.steps.doctor import DoctorOptions


def check_keyword_index(store: Store, repair: bool, report: DoctorReport) -> None:
    """Check the FTS5 keyword index against the chunks; rebuild it from them on repair."""
    try:
        problem = store.keyword_index_problem()
    except StoreWriteError as exc:  # the check is an FTS5 command, which needs a write
        report.findings.append(Finding("keyword index", OK, f"not checked: {exc.message}"))
        return
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
                report.findings.append(
                    Finding("keyword index", REPAIRED, f"{problem}; rebuilt from the chunks")
                )
                return
    report.findings.append(Finding("keyword index", DAMAGED, problem))


def check_vectors(
    store: Store,
    manifest: Manifest,
    options: DoctorOptions,
    progress: Progress,
    report: DoctorReport,
    salvaged: bool = False,
) -> None:
    """Check the cached vectors; embed damaged ones again (and, after a salvage copy, the
    ones it could not read)."""
    total, damaged = store.damaged_vectors(manifest.dimension)
    missing = store.count_unembedded() if salvaged else 0
    if not damaged and not missing:
        report.findings.append(
            Finding("vectors", OK, f"{total} vectors of {manifest.dimension} finite values")
        )
        return
    parts = []
    if damaged:
        parts.append(
            f"{len(damaged)} of {total} vectors damaged (wrong length, values not finite "
            f"or all zero), used by {store.chunks_using(damaged)} chunks"
        )
    if missing:
        parts.append(f"{missing} texts lost their vector with the damaged pages")
    detail = "; ".join(parts)
    if not options.repair:
        report.findings.append(Finding("vectors", DAMAGED, detail))
        return
    from ragcli.embedding.factory import make_embedder
    from ragcli.indexing import index_chunks

    try:
        embedder = make_embedder(
            manifest.embedder, options.threads, options.embed_server, manifest.dimension
        )
    except (ModelError, UsageError) as exc:
        report.findings.append(
            Finding("vectors", DAMAGED, f"{detail}; cannot embed them: {exc.message}")
        )
        report.lost.append(
            f"the vectors of {len(damaged) + missing} texts: dense search misses "
            f"them until the store's embedder {manifest.embedder} can embed them"
        )
        return
    store.drop_embeddings(damaged)
    index_chunks(store, manifest, embedder, progress, options.batch_size, rebuild=True)
    report.findings.append(
        Finding("vectors", REPAIRED, f"{detail}; embedded again with {manifest.embedder}")
    )


def check_index(store: Store, manifest: Manifest, repair: bool, report: DoctorReport) -> None:
    """Check the vector index against the database; rebuild it from the vectors on repair."""
    from ragcli.indexing import update_index

    problem = _index_problem(store, manifest)
    if problem is None:
        report.findings.append(Finding("vector index", OK, "matches the database"))
        return
    if repair:
        update_index(store, manifest, rebuild=True)
        if _index_problem(store, manifest) is None:
            report.findings.append(
                Finding("vector index", REPAIRED, f"{problem}; rebuilt from the stored vectors")
            )
            return
    # An index from before checksums is not damage: it cannot be vouched for, that is all.
    status = OK if problem == _UNVERIFIED else DAMAGED
    report.findings.append(Finding("vector index", status, problem))


_UNVERIFIED = (
    "not verifiable: the manifest holds no checksum of it (written by an older "
    "ragcli); `rag doctor` or the next write records one"
)


def _index_problem(store: Store, manifest: Manifest) -> str | None:
    import numpy as np

    try:
        index = store.open_vectors(manifest)
    except StoreCorruptError as exc:
        return exc.message
    wanted = store.indexable_ids()
    if index is None:
        return f"{_vectors_name(store, manifest)} is missing" if wanted.size else None
    try:
        if not index.verified:
            return _UNVERIFIED
        held = index.ids()
    finally:
        index.close()
    missing = np.setdiff1d(wanted, held).size
    if missing:
        return f"{missing} stored vectors are not in the index"
    extra = 0 if index.keeps_removed else np.setdiff1d(held, wanted).size
    if extra:
        return f"{extra} vectors of removed chunks are still in the vector store"
    return None


def _vectors_name(store: Store, manifest: Manifest) -> str:
    return (
        str(store.index_path)
        if manifest.vectors == "faiss"
        else f"the vectors in {manifest.vectors}"
    )
