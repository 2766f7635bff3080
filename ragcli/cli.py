"""The `rag` command: the Typer app over commands/, and the one place errors become exit codes."""

from __future__ import annotations

import sys
import warnings

import typer

from ragcli import output
from ragcli.commands import (
    ask,
    chat,
    config,
    doctor,
    evaluate,
    index,
    ingest,
    mcp,
    search,
    serve,
    sources,
    status,
    stores,
    version,
)
from ragcli.errors import ExitCode, OutputWriteError, RagError, SystemLimitError
from ragcli.settings import as_flag

EXIT_CODES = """Exit codes: 0 ok; 1 internal error; 2 usage error, invalid config or settings
that disagree with the store; 3 no store or empty store; 4 input path or file not found, or
stdin closed; 5 model, model cache, LLM or embedding server failed; 6 finished but some files
were skipped; 7 store locked by another writer (--no-wait); 8 nothing relevant found; 9 store
unreadable or damaged (rag doctor); 10 store or stdout not writable (disk full, read-only,
lock path in the way); 11 too many open files (ulimit -n); 130 interrupted.
Settings: flag > RAG_* environment > config file (rag config shows them) > default."""

app = typer.Typer(
    name="rag",
    help="Ask questions about your documents, answered by local models with cited sources.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# `rag --version [--json]`: options of the app itself, before any command.
app.callback(invoke_without_command=True)(version.version)

# In the order `rag --help` lists them.
app.command()(ingest.ingest)
app.command("index")(index.index_command)
app.command()(index.compact)
app.command()(sources.sources)
app.command()(sources.rm)
app.command()(ask.ask)
app.command()(chat.chat)
app.command()(search.search)
app.command("eval")(evaluate.evaluate)
app.command("config")(config.config_command)
app.command()(status.status)
app.command()(stores.stores)
app.command()(doctor.doctor)
app.command()(mcp.mcp)
app.command()(serve.serve)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every failure into a message and an exit code."""
    warnings.showwarning = output.show_warning  # one line, never Python's raw two
    try:
        code = app(args=argv, prog_name="rag", standalone_mode=False)
        if code == ExitCode.INTERRUPTED:  # Typer turns Ctrl-C into a silent Exit(130)
            output.error("interrupted")
    except OutputWriteError as exc:
        output.error(exc.spelled(as_flag))
        _discard_stdout()
        code = exc.exit_code
    except RagError as exc:
        output.error(exc.spelled(as_flag))
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # Click's usage errors, as Typer re-exports them
        _usage_error(exc)
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        output.error("interrupted")
        code = ExitCode.INTERRUPTED
    except (output.OutputClosed, BrokenPipeError):
        _discard_stdout()
        code = ExitCode.OK
    except OSError as exc:
        code = _os_error(exc)
    except Exception as exc:  # a bug: say so in one line, never a traceback
        code = _unexpected(exc)
    sys.exit(int(code) if isinstance(code, int) else 0)


def _os_error(exc: OSError) -> ExitCode:
    """Say an OSError no layer below translated: the file limit, a stdout Click could not
    write to, else a bug."""
    if SystemLimitError.caused(exc):
        limit = SystemLimitError.open_files(exc.filename or "a file or module")
        output.error(str(limit))
        return limit.exit_code
    if _raised_by_click_echo(exc):  # --help > /dev/full
        output.error(f"cannot write the results to stdout: {exc.strerror or exc}")
        _discard_stdout()
        return ExitCode.NOT_WRITABLE
    return _unexpected(exc)


def _unexpected(exc: Exception) -> ExitCode:
    """Say an unexpected error in one line: a bug."""
    output.error(f"internal error: {type(exc).__name__}: {exc}")
    return ExitCode.INTERNAL


def _raised_by_click_echo(exc: BaseException) -> bool:
    """Whether Click's echo (help text, its own messages) raised it: stdout failed, no bug."""
    import traceback

    # Typer vendors its own Click (typer._click), so the module is known by its name's end.
    return any(
        frame.f_code.co_name == "echo"
        and frame.f_globals.get("__name__", "").endswith("click.utils")
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def _usage_error(exc: typer.TyperException) -> None:
    """Say a malformed command line in one line; help only where it was asked for."""
    # Typer vendors its own Click: its exception classes are known by shape, not import.
    context = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "ctx"):
        exc.show()  # type: ignore[attr-defined]
        return
    where = getattr(context, "command_path", "") or "rag"
    output.error(f"{exc.format_message()} (see '{where} --help')")


def _discard_stdout() -> None:
    """Point stdout at /dev/null so Python's exit flush raises no second error."""
    import os

    if sys.stdout is None:  # closed from the start (`>&-`): nothing is left to flush
        return
    try:
        target = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test's capture): nothing to flush there
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, target)
