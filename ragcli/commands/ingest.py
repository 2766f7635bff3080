"""`rag ingest`: bring a store in step with files and folders."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ragcli import output
from ragcli.commands.common import (
    BatchOpt,
    ConfigOpt,
    EmbedOpt,
    EmbedUrlOpt,
    Fp32Opt,
    JsonOpt,
    NoWaitOpt,
    OcrLanguagesOpt,
    OcrMaxPagesOpt,
    OcrMaxSecondsOpt,
    OcrOpt,
    QuietOpt,
    RayAddressOpt,
    RayOpt,
    RayWorkersOpt,
    StoreOpt,
    ThreadsOpt,
    VectorsOpt,
    resolve_settings,
    setting_option,
    stdin_bytes,
)
from ragcli.errors import ExitCode, InputNotFoundError, UsageError

if TYPE_CHECKING:
    from ragcli.steps.ingest import IngestOptions


def ingest(
    paths: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Argument(help="Files and directories (recursive).", show_default=False),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    files_from: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--files-from",
            help="Read more paths from FILE, one a line ('-': stdin; each at most PATH_MAX bytes).",
        ),
    ] = None,
    null: Annotated[
        bool, typer.Option("-0", "--null", help="--files-from names end in NUL, not newline.")
    ] = False,
    include: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--include", help="Only files matching this glob (repeatable)."),
    ] = None,
    exclude: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--exclude", help="Skip files and folders matching this glob (repeatable)."),
    ] = None,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links",
            help="Follow symlinks that lead outside the "
            "folders given (or, for files named, the current directory).",
        ),
    ] = False,
    embed_model: EmbedOpt = None,
    vectors: VectorsOpt = None,
    embed_url: EmbedUrlOpt = None,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Embed and index right away.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added, changed, removed.")
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Then follow the folders: sync each change as it is saved, a line per file "
            "on stderr, until Ctrl-C or SIGTERM (exit 0; needs ragcli[watch]).",
        ),
    ] = False,
    chunk_tokens: Annotated[Optional[int], setting_option("chunk_tokens")] = None,  # noqa: UP045
    overlap_tokens: Annotated[
        Optional[int],  # noqa: UP045
        setting_option("overlap_tokens"),
    ] = None,
    ocr: OcrOpt = None,
    ocr_languages: OcrLanguagesOpt = None,
    ocr_max_pages: OcrMaxPagesOpt = None,
    ocr_max_seconds: OcrMaxSecondsOpt = None,
    batch_size: BatchOpt = None,
    threads: ThreadsOpt = None,
    fp32: Fp32Opt = False,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    ray_workers: RayWorkersOpt = None,
    no_wait: NoWaitOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Bring the store in step with files and folders: add new, replace changed, drop gone."""
    from ragcli.library import Library
    from ragcli.options import build_settings, discovery_options, load_limits
    from ragcli.steps.ingest import IngestOptions

    effective = resolve_settings(
        config,
        store=store,
        embedder=embed_model,
        vectors=vectors,
        embed_url=embed_url,
        chunk_tokens=chunk_tokens,
        overlap_tokens=overlap_tokens,
        batch_size=batch_size,
        threads=threads,
        ray_address=ray_address,
        ray_workers=ray_workers,
        ocr=ocr,
        ocr_languages=ocr_languages,
        ocr_max_pages=ocr_max_pages,
        ocr_max_seconds=ocr_max_seconds,
    )
    targets = list(paths or [])
    if files_from is not None:
        targets += _read_path_list(files_from, null)
    if not targets:
        raise typer.BadParameter("give PATH... or --files-from FILE", param_hint="PATH")
    options = IngestOptions(
        paths=tuple(targets),
        store_dir=effective.store,
        build=build_settings(effective, int8=not fp32, ray=ray),
        discovery=discovery_options(effective, include or (), exclude or (), follow_links),
        index=index,
        batch_size=effective.batch_size,
        dry_run=dry_run,
        wait=not no_wait,
        load=load_limits(effective),
    )
    if watch:
        if dry_run or files_from is not None:
            raise UsageError(
                "--watch follows the folders given as PATH; not with --dry-run or --files-from"
            )
        _watch(options, json_out, quiet)
        return
    with output.ProgressBar(quiet) as progress, Library(effective) as library:
        result = library.ingest(
            options.paths,
            progress=progress,
            build=options.build,
            discovery=options.discovery,
            load=options.load,
            index=index,
            dry_run=dry_run,
            wait=not no_wait,
        )
    for skipped in result.report.skipped:
        # Files that failed are errors, said even with --quiet (progress said them already
        # otherwise); files passed over on purpose are only notes.
        if skipped.failed == quiet:
            output.note(f"skipped {output.display_path(skipped.path)}: {skipped.reason}")
    if result.plan is not None:
        if json_out:
            output.print_json(output.plan_json(result.plan))
        else:
            output.write(output.format_plan(result.plan))
        return
    if json_out:
        output.print_json(output.ingest_json(result.report, result.index))
    else:
        output.write(output.format_ingest(result.report, result.index))
    if result.report.failed:
        raise typer.Exit(ExitCode.FILES_SKIPPED)


def _watch(options: IngestOptions, json_out: bool, quiet: bool) -> None:
    """Run a watch, rendering each event as it comes; a clean stop exits 0."""
    from ragcli.records import WatchStopped
    from ragcli.steps.ingest import watch as run_watch

    with _terminate_as_interrupt(), output.ProgressBar(quiet) as progress:
        events = run_watch(options, progress)
        try:
            for event in events:
                output.render_watch_event(event, json_out, quiet)
        except KeyboardInterrupt:  # while a line was printed: nothing was being written
            events.close()
            folders = [str(path.absolute()) for path in options.paths]
            stopped = WatchStopped(folders=folders, interrupted_write=False)
            output.render_watch_event(stopped, json_out, quiet)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Let SIGTERM stop a watch as Ctrl-C does (its default would end it mid-write)."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read_path_list(name: str, null: bool) -> list[Path]:
    import stat

    from ragcli.discovery import read_path_list
    from ragcli.errors import UsageError

    if name == "-":
        return read_path_list(stdin_bytes("--files-from -"), null)
    try:
        # A pipe or process substitution is a fine list; a folder never is.
        if stat.S_ISDIR(os.stat(name).st_mode):
            raise UsageError(f"--files-from {name} is a directory, not a list of paths")
        with open(name, "rb") as handle:
            return read_path_list(handle, null)
    except OSError as exc:
        raise InputNotFoundError(f"cannot read --files-from {name}: {exc.strerror}") from exc
