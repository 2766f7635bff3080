"""Rendering: results to stdout (text or JSON), progress and messages to stderr.

The only code that prints. `from ragcli import output; output.X` reaches every renderer;
the modules group them by what a reader looks for:

- console: write, print_json, note, error, OutputClosed, show_warning (a Python warning as
  one line), and the escaping of anything a terminal could act on (safe_text, one_line;
  display_name and display_path for names; json_safe for JSON and MCP); every other module
  prints through it.
- progress: ProgressBar, the rich bar on stderr that steps report progress to.
- hits: `rag search` results (format_hit, hit_json, snippet).
- answers: `rag ask` answers, support, sources, context and NDJSON stream events, and the
  answer renderers (text, json, stream).
- chat: `rag chat` turns as JSON, a passage shown whole (/show N), the slash commands' help.
- documents: what the store holds (`rag sources`, `rag status`) and the stores (`rag stores`).
- reports: ingest, dry-run plan, index, eval, doctor, config and version reports.
- watch: `ingest --watch` change lines and NDJSON events.
"""

from __future__ import annotations

from ragcli.output.answers import (
    AnswerRenderer,
    JsonAnswer,
    StreamAnswer,
    TextAnswer,
    answer_json,
    answer_renderer,
    context_json,
    event_json,
    evidence_json,
    format_sources,
    format_support,
    print_context,
    source_json,
)
from ragcli.output.chat import format_chat_help, format_passage, turn_json
from ragcli.output.console import (
    OutputClosed,
    display_name,
    display_path,
    error,
    json_safe,
    note,
    one_line,
    print_json,
    safe_text,
    show_details,
    show_warning,
    stderr,
    write,
)
from ragcli.output.documents import (
    document_json,
    format_documents,
    format_status,
    format_stores,
    status_json,
    stores_json,
)
from ragcli.output.hits import format_hit, hit_json, snippet
from ragcli.output.progress import ProgressBar
from ragcli.output.reports import (
    doctor_json,
    eval_json,
    format_doctor,
    format_eval,
    format_index,
    format_ingest,
    format_plan,
    format_settings,
    format_version,
    index_json,
    ingest_json,
    plan_json,
    settings_json,
    version_json,
)
from ragcli.output.watch import (
    change_json,
    format_change,
    format_stopped,
    format_watching,
    render_watch_event,
    watch_started_json,
    watch_stopped_json,
)

__all__ = [
    "AnswerRenderer",
    "JsonAnswer",
    "OutputClosed",
    "ProgressBar",
    "StreamAnswer",
    "TextAnswer",
    "answer_json",
    "answer_renderer",
    "change_json",
    "context_json",
    "display_name",
    "display_path",
    "doctor_json",
    "document_json",
    "error",
    "eval_json",
    "event_json",
    "evidence_json",
    "format_change",
    "format_chat_help",
    "format_doctor",
    "format_documents",
    "format_eval",
    "format_hit",
    "format_index",
    "format_ingest",
    "format_passage",
    "format_plan",
    "format_settings",
    "format_sources",
    "format_status",
    "format_stopped",
    "format_stores",
    "format_version",
    "format_support",
    "format_watching",
    "hit_json",
    "index_json",
    "ingest_json",
    "json_safe",
    "note",
    "one_line",
    "plan_json",
    "print_context",
    "render_watch_event",
    "print_json",
    "safe_text",
    "show_details",
    "show_warning",
    "settings_json",
    "snippet",
    "source_json",
    "status_json",
    "watch_started_json",
    "watch_stopped_json",
    "stderr",
    "stores_json",
    "turn_json",
    "version_json",
    "write",
]
