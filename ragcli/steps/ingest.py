"""`rag ingest`: load files, split them into chunks, store them, then index."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcli.errors import InputNotFoundError, LoadError
from ragcli.records import IndexReport, IngestReport, Manifest, Skipped
from ragcli.steps.index import index_chunks
from ragcli.steps.opening import BuildSettings, open_for_writing
from ragcli.steps.progress import Progress
from ragcli.store import Store
from ragcli.text.chunking import ChunkBudget, split_into_chunks
from ragcli.text.loaders import kind_of, load_document, read_source


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest and how."""

    paths: tuple[Path, ...]
    store_dir: Path
    build: BuildSettings
    defaults: Manifest
    index: bool = True
    batch_size: int = 64


@dataclass(frozen=True)
class IngestResult:
    """What ingest did, and what the indexing that followed did (if it ran)."""

    report: IngestReport
    index: IndexReport | None


def check_paths(paths: Sequence[Path]) -> None:
    """Fail before touching the store if any given path is missing."""
    for path in paths:
        if not path.exists():
            raise InputNotFoundError(f"no such file or directory: {path}")


def ingest(options: IngestOptions, progress: Progress) -> IngestResult:
    """Bring the given files into the store and (by default) index them."""
    check_paths(options.paths)
    store, manifest, embedder = open_for_writing(options.store_dir, options.build, options.defaults)
    with store:
        report = IngestReport()
        files = sorted(set(_walk(options.paths, report)))
        progress.start("Reading files", len(files))
        budget = ChunkBudget(manifest.chunking, manifest.max_text_tokens, embedder.count_tokens)
        for path in files:
            _ingest_file(store, path, budget, report, progress)
            progress.advance(1)
        index_report = None
        if options.index:
            index_report = index_chunks(store, manifest, embedder, progress, options.batch_size)
    return IngestResult(report, index_report)


def _walk(paths: Sequence[Path], report: IngestReport) -> Iterator[Path]:
    """Yield supported files under the given paths; note the ones passed over."""
    for path in paths:
        if path.is_dir():
            for folder, subdirs, names in os.walk(path, onerror=_raise_unreadable(report)):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                for name in names:
                    if not name.startswith("."):
                        yield from _supported(Path(folder, name).absolute(), report, False)
        else:
            yield from _supported(path.absolute(), report, True)


def _raise_unreadable(report: IngestReport) -> Callable[[OSError], None]:
    def on_error(error: OSError) -> None:
        report.skipped.append(Skipped(str(error.filename), "cannot read directory", failed=True))

    return on_error


def _supported(path: Path, report: IngestReport, named: bool) -> Iterator[Path]:
    if kind_of(path) is None:
        report.skipped.append(
            Skipped(str(path), f"unsupported format {path.suffix or '(no extension)'}", named)
        )
    else:
        yield path


def _ingest_file(
    store: Store, path: Path, budget: ChunkBudget, report: IngestReport, progress: Progress
) -> None:
    kind = kind_of(path)
    assert kind is not None
    try:
        source, data = read_source(path)
        previous = store.fingerprint(source.path)
        if previous == source.sha256:
            report.unchanged += 1
            return
        document = load_document(source, data, kind)
    except LoadError as exc:
        report.skipped.append(Skipped(str(path), exc.message, failed=True))
        progress.note(f"skipped {path}: {exc.message}")
        return
    chunks = split_into_chunks(document, budget)
    if not chunks:
        reason = "no extractable text (a scanned PDF needs OCR)" if kind == "pdf" else "no text"
        report.skipped.append(Skipped(str(path), reason))
        progress.note(f"skipped {path}: {reason}")
        return
    store.replace_document(source, kind, len(tuple(document.pages)), chunks)
    report.chunks_added += len(chunks)
    if previous is None:
        report.added += 1
    else:
        report.updated += 1
