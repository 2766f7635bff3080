"""`rag ingest --watch`: a line on stderr per change, or NDJSON events on stdout with --json."""

from __future__ import annotations

from typing import Any

from ragcli.output.console import display_path, note, print_json, write
from ragcli.output.reports import format_ingest, ingest_json
from ragcli.records import FileChange, IngestResult, WatchEvent, WatchStarted, WatchStopped


def render_watch_event(event: WatchEvent, json_out: bool, quiet: bool) -> None:
    """Print a watch event: NDJSON on stdout with --json; lines on stderr unless --quiet.

    The first sync's summary goes to stdout as `rag ingest` prints it; a file that could
    not be read is an error, named on stderr even with --quiet; one passed over on purpose
    (a link out of the folder) is a note, as `rag ingest` says it.
    """
    if isinstance(event, WatchStarted):
        for skipped in event.result.report.skipped:
            if skipped.failed == quiet:
                note(f"skipped {display_path(skipped.path)}: {skipped.reason}")
        if json_out:
            print_json(watch_started_json(event.result))
        else:
            write(format_ingest(event.result.report, event.result.index))
        if not quiet:
            note(format_watching(event.folders))
        return
    if isinstance(event, FileChange):
        if json_out:
            print_json(change_json(event))
        if not quiet or (event.action == "skipped" and event.failed):
            note(format_change(event))
        return
    if json_out:
        print_json(watch_stopped_json(event))
    if not quiet:
        note(format_stopped(event))


def format_change(change: FileChange) -> str:
    """One change as a line: `added notes/a.md (3 chunks)`, `renamed a.md -> b.md`."""
    path = display_path(change.path)
    if change.action == "renamed":
        return f"renamed {display_path(change.old_path or '')} -> {path}"
    if change.action == "skipped":
        return f"skipped {path}: {change.reason}"
    if change.chunks is not None:
        return f"{change.action} {path} ({change.chunks} chunk{'' if change.chunks == 1 else 's'})"
    return f"{change.action} {path}"


def format_watching(folders: list[str]) -> str:
    """The line that says the first sync is done and changes are followed."""
    return f"watching {', '.join(display_path(f) for f in folders)} for changes (Ctrl-C stops)"


def format_stopped(stopped: WatchStopped) -> str:
    """The last line of a watch."""
    text = f"stopped watching {', '.join(display_path(f) for f in stopped.folders)}"
    if stopped.interrupted_write:
        text += "; the change being written was rolled back (a new ingest brings it in)"
    return text


def watch_started_json(result: IngestResult) -> dict[str, Any]:
    """The first NDJSON event: what the first sync did, as `ingest --json` prints it."""
    return {"type": "ingested", **ingest_json(result.report, result.index)}


def change_json(change: FileChange) -> dict[str, Any]:
    """One change as an NDJSON event (the keys are a stable contract)."""
    return {
        "type": change.action,
        "path": change.path,
        "old_path": change.old_path,
        "chunks": change.chunks,
        "reason": change.reason,
    }


def watch_stopped_json(stopped: WatchStopped) -> dict[str, Any]:
    """The last NDJSON event of a watch."""
    return {"type": "stopped", "interrupted_write": stopped.interrupted_write}
