"""`rag doctor`: check a store's parts against each other and repair what can be rebuilt.

Checked, in order: the database file (`PRAGMA quick_check`), the FTS5 keyword index
against the chunks (`integrity-check`), the cached vectors (length, finite values, not all
zero) and the vector index against the manifest's record and the indexable chunks. Repairs
use only what is stored: SQLite's indexes and the keyword index are rebuilt from the chunk
rows, damaged vectors are embedded again with the store's embedder, the vector index is
rebuilt from the stored vectors. What cannot be rebuilt is named in `lost`. This module
opens the store and mends its manifest and database; doctor_parts.py checks the rest.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragcli.embedding.server import EmbedServerOptions
from ragcli.errors import ManifestDamagedError, StoreCorruptError, WalDeletedError
from ragcli.progress import Progress
from ragcli.records import DAMAGED, OK, REPAIRED, DoctorReport, Finding, Manifest
from ragcli.steps.doctor_parts import check_index, check_keyword_index, check_vectors
from ragcli.store import DATABASE_NAME, Store, writer_lock


@dataclass(frozen=True)
class DoctorOptions:
    """Which store to examine, and whether to repair it."""

    store_dir: Path
    repair: bool
    threads: int | None
    batch_size: int
    wait: bool
    # Where damaged vectors are embedded again when the store was built on a server.
    embed_server: EmbedServerOptions | None = None
    # What the store's vector database asks for (Milvus); never recorded in the store.
    vectors_token: str | None = None


def doctor(options: DoctorOptions, progress: Progress) -> DoctorReport:
    """Examine a store; repair it unless told only to check (then under the writer lock)."""
    if not options.repair:
        return _examine(options, progress)
    # Held across two opens of the store: a salvage replaces the database file in between.
    with writer_lock(options.store_dir, options.wait, progress.note):
        return _examine(options, progress)


def _examine(options: DoctorOptions, progress: Progress) -> DoctorReport:
    report = DoctorReport(str(options.store_dir))
    opened = _open(options, report)
    if opened is None:
        return report
    store, manifest = opened
    damage = _check_database(store, options.repair, report)
    salvaged = damage is not None
    if damage is not None:
        store.close()
        reopened = _salvage(options, damage, report)
        if reopened is None:
            return report
        store = reopened
    with store:
        _run(report, "keyword index", lambda: check_keyword_index(store, options.repair, report))
        if manifest is None:
            return report
        _run(
            report,
            "vectors",
            lambda: check_vectors(store, manifest, options, progress, report, salvaged),
        )
        _run(report, "vector index", lambda: check_index(store, manifest, options.repair, report))
    return report


def _open(options: DoctorOptions, report: DoctorReport) -> tuple[Store, Manifest | None] | None:
    """Open the store and read its manifest (rebuilding it when damaged); None: cannot."""
    database = options.store_dir / DATABASE_NAME
    try:
        return _opened(options)
    except ManifestDamagedError as exc:
        return _mend_manifest(options, exc, report)
    except WalDeletedError as exc:
        report.findings.append(Finding("database", DAMAGED, exc.message))
        report.lost.append(
            "any commits in the deleted log since its last checkpoint; stop the "
            "processes using the store and run `rag doctor` again"
        )
    except StoreCorruptError as exc:
        report.findings.append(Finding("database", DAMAGED, exc.message))
        report.lost.append(
            f"everything in {database}: SQLite cannot open it; restore it from a "
            "backup, or delete the store and ingest the files again"
        )
    return None


def _mend_manifest(
    options: DoctorOptions, damage: ManifestDamagedError, report: DoctorReport
) -> tuple[Store, Manifest | None] | None:
    """Rebuild the manifest's damaged values from the rest of the store, or say it cannot."""
    from ragcli.store.manifest_repair import rebuild_manifest

    if not options.repair:
        report.findings.append(Finding("manifest", DAMAGED, damage.message))
        return None
    repair = rebuild_manifest(options.store_dir)
    if repair.unknown:
        unknown = ", ".join(repair.unknown)
        report.findings.append(
            Finding("manifest", DAMAGED, f"{damage.message}; cannot rebuild {unknown}")
        )
        report.lost.append(
            f"how the store was built ({unknown}): nothing else in it records that; "
            "restore a backup, or delete the store and ingest again"
        )
        return None
    report.findings.append(
        Finding(
            "manifest",
            REPAIRED,
            f"{damage.message}; rebuilt {', '.join(repair.rebuilt)} from the rest of the store",
        )
    )
    return _opened(options)


def _opened(options: DoctorOptions) -> tuple[Store, Manifest | None]:
    """The store, open to write (though not locked), and its manifest."""
    # Writable even to check: FTS5's integrity-check is a statement that writes nothing.
    store = Store.open(options.store_dir, writable=True, vectors_token=options.vectors_token)
    try:
        return store, store.manifest
    except BaseException:
        store.close()
        raise


def _run(report: DoctorReport, check: str, examine: Callable[[], object]) -> None:
    """Run one check; damage that stops it (an unreadable table) is its verdict."""
    try:
        examine()
    except StoreCorruptError as exc:
        report.findings.append(Finding(check, DAMAGED, exc.message))


def _check_database(store: Store, repair: bool, report: DoctorReport) -> str | None:
    """Check the database file; return the damage left for a salvage copy to mend."""
    try:
        problems = store.quick_check()
    except StoreCorruptError as exc:
        problems = [exc.message]
    if not problems:
        report.findings.append(Finding("database", OK, "quick_check found no damage"))
        return None
    first = f"quick_check: {problems[0]}" + (
        f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    )
    if not repair:
        report.findings.append(Finding("database", DAMAGED, first))
        return None
    with contextlib.suppress(StoreCorruptError):  # a salvage copy mends what remains
        store.rebuild_keyword_index()
        if not store.quick_check():
            report.findings.append(Finding("database", REPAIRED, f"{first}; indexes rebuilt"))
            return None
    return first


def _salvage(options: DoctorOptions, damage: str, report: DoctorReport) -> Store | None:
    """Rebuild the database from its readable rows; reopen it, or say what is lost."""
    from ragcli.store.salvage import salvage_database

    root = options.store_dir
    try:
        result = salvage_database(root)
        store = Store.open(root, writable=True, vectors_token=options.vectors_token)
        remaining = store.quick_check()
    except (StoreCorruptError, sqlite3.Error) as exc:
        report.findings.append(Finding("database", DAMAGED, f"{damage}; cannot rebuild: {exc}"))
        report.lost.append(
            f"the rows on the damaged pages of {root / DATABASE_NAME}: restore "
            "a backup, or delete the store and ingest again"
        )
        return None
    copied = ", ".join(f"{count} {table}" for table, count in result.copied.items())
    detail = f"{damage}; rebuilt from the readable rows ({copied})"
    if result.stopped:
        detail += "; unreadable past the damage: " + ", ".join(result.stopped)
    status = DAMAGED if remaining else REPAIRED
    report.findings.append(Finding("database", status, detail))
    report.lost.extend(result.lost)
    return store
