"""Machinery of the hostile-input benchmark: run one `rag` process under caps and measure it.

Shared by bench/hostile_bench.py (resource cases, the table, the command line) and
bench/hostile_cases.py (security and store-fault cases).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
RAG = [sys.executable, "-m", "ragcli"]
# The fake engines (`fake:64`, `fake:`) live in tests/fakes.py, outside the package: every
# `rag` started here builds them through RAGCLI_TEST_PLUGINS (see ragcli/plugins.py).
sys.path.insert(0, str(ROOT))
from tests.fakes import share_with_subprocesses  # noqa: E402

share_with_subprocesses()
EMBED = ("--embed-model", "fake:64")  # for ingest and index; search and ask use the store's
LLM = ("--model", "fake:")


@dataclass(frozen=True)
class Outcome:
    """How one case ended: for a case of several commands, the exits of each."""

    exit: str
    wall_s: float
    peak_rss_mb: float
    first_error_line: str
    stored: str


@dataclass(frozen=True)
class Run:
    """One `rag` process: its outcome (store column empty) and what it wrote to stdout."""

    outcome: Outcome
    stdout: bytes

    @property
    def exit(self) -> str:
        return self.outcome.exit


@dataclass
class Runner:
    """What a case may use: its own folder, the caps, and the shared sample_docs store."""

    work: Path
    folder: Path
    timeout_s: float
    memory_bytes: int
    slow: bool = False
    runs: list[Run] = field(default_factory=list)

    @property
    def store(self) -> Path:
        return self.folder / "store"

    def rag(
        self,
        *args: str,
        stdin: bytes | None = None,
        cwd: Path | None = None,
        store: Path | None = None,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        no_store: bool = False,
    ) -> Run:
        """`rag ARGS --store STORE` under the caps, in the case's folder (or CWD).

        ENV is added to the environment; NO_STORE leaves out --store (`rag stores`).
        """
        command = [*RAG, *args] + ([] if no_store else ["--store", str(store or self.store)])
        run = run_capped(
            command,
            cwd or self.folder,
            timeout_s or self.timeout_s,
            self.memory_bytes,
            stdin,
            env,
        )
        self.runs.append(run)
        return run

    def drive(
        self,
        *args: str,
        drive: Callable[[subprocess.Popen[bytes]], None],
        store: Path | None = None,
        timeout_s: float | None = None,
    ) -> Run:
        """`rag ARGS --store STORE` under the caps, talked to by DRIVE (see run_driven)."""
        command = [*RAG, *args, "--store", str(store or self.store)]
        run = run_driven(
            command, self.folder, timeout_s or self.timeout_s, self.memory_bytes, drive
        )
        self.runs.append(run)
        return run

    def fake_store(
        self, files: dict[str, str], store: Path | None = None, folder: str = "docs", dim: int = 64
    ) -> Path:
        """Write FILES under FOLDER and ingest them with the fake embedder (unmeasured)."""
        docs = self.folder / folder
        docs.mkdir(exist_ok=True)
        for name, text in files.items():
            (docs / name).write_text(text)
        subprocess.run(
            [
                *RAG,
                "ingest",
                str(docs),
                "--store",
                str(store or self.store),
                "--embed-model",
                f"fake:{dim}",
                "-q",
            ],
            cwd=self.folder,
            check=True,
            capture_output=True,
        )
        return docs

    def ask_store(self) -> Path:
        """sample_docs ingested with the bundled embedder, once for every ask/search case."""
        store = self.work / "ask-store"
        if not store.exists():
            note("building the sample_docs store for the ask and search cases")
            subprocess.run(
                [*RAG, "ingest", str(ROOT / "sample_docs"), "--store", str(store), "-q"],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        return store

    def outcome(self, exit_text: str, stored_text: str) -> Outcome:
        """One row for all the commands run so far: summed wall, largest RSS, first error."""
        wall = sum(run.outcome.wall_s for run in self.runs)
        peak = max((run.outcome.peak_rss_mb for run in self.runs), default=0.0)
        first = next(
            (
                run.outcome.first_error_line
                for run in self.runs
                if run.outcome.first_error_line and run.exit != "0"
            ),
            "",
        )
        return Outcome(exit_text, wall, peak, first, stored_text)


@dataclass(frozen=True)
class Case:
    """A hostile input or fault: `run(runner)` sets it up, runs `rag`, and reports."""

    name: str
    about: str
    run: Callable[[Runner], Outcome]
    group: str = "resource"  # resource, security, store or surfaces
    costly: bool = False  # a gigabyte input, a bundled model, or a case that hung before


class Skipped(Exception):
    """A case that cannot run here (no tmpfs, no --slow): the message says why."""


def run_capped(
    args: list[str],
    cwd: Path,
    timeout_s: float,
    memory_bytes: int,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ARGS in a new session under the caps; kill it at the deadline; measure it."""
    with (
        tempfile.TemporaryFile() as errors,
        tempfile.TemporaryFile() as output,
        tempfile.TemporaryFile() as given,
    ):
        given.write(stdin or b"")
        given.seek(0)
        started = time.perf_counter()
        process = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=given if stdin is not None else subprocess.DEVNULL,
            stdout=output,
            stderr=errors,
            preexec_fn=_capped(memory_bytes),
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
        status, usage, timed_out = _reap(process, started, timeout_s)
        wall_s = time.perf_counter() - started
        output.seek(0)
        return _run(status, usage, timed_out, timeout_s, wall_s, errors, output.read())


def run_driven(
    args: list[str],
    cwd: Path,
    timeout_s: float,
    memory_bytes: int,
    drive: Callable[[subprocess.Popen[bytes]], None],
) -> Run:
    """Run ARGS as run_capped does, with stdin and stdout piped to DRIVE (run on a thread).

    DRIVE talks to the process (an MCP client, a watch's file changes) and ends it or
    lets it end; the deadline still kills it. Its stdout is DRIVE's to read: not kept.
    """
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            preexec_fn=_capped(memory_bytes),
            start_new_session=True,
        )
        failures: list[BaseException] = []
        driver = threading.Thread(target=_guarded(drive, process, failures), daemon=True)
        driver.start()
        status, usage, timed_out = _reap(process, started, timeout_s)
        wall_s = time.perf_counter() - started
        driver.join(timeout=10)
        if failures:
            raise failures[0]
        return _run(status, usage, timed_out, timeout_s, wall_s, errors, b"")


def _guarded(
    drive: Callable[[subprocess.Popen[bytes]], None],
    process: subprocess.Popen[bytes],
    failures: list[BaseException],
) -> Callable[[], None]:
    def run() -> None:
        try:
            drive(process)
        except BaseException as exc:  # noqa: BLE001 - raised again on the main thread
            failures.append(exc)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)

    return run


def _capped(memory_bytes: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return limit


def _reap(
    process: subprocess.Popen[bytes], started: float, timeout_s: float
) -> tuple[int, resource.struct_rusage, bool]:
    """Wait for the process (killing its session at the deadline): status, usage, killed."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > timeout_s:
            os.killpg(process.pid, signal.SIGKILL)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            return status, usage, True
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    return status, usage, False


def _run(
    status: int,
    usage: resource.struct_rusage,
    timed_out: bool,
    timeout_s: float,
    wall_s: float,
    errors: IO[bytes],
    stdout: bytes,
) -> Run:
    """The Run of a reaped process: its exit, wall time, peak RSS and first stderr line."""
    errors.seek(0)
    lines = errors.read().decode("utf-8", errors="replace").splitlines()
    if timed_out:
        exit_text = f"killed at {timeout_s:g} s"
    elif os.WIFSIGNALED(status):
        exit_text = f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    else:
        exit_text = str(os.WEXITSTATUS(status))
    first = next((line.strip() for line in lines if line.strip()), "")
    # ru_maxrss is in KiB on Linux.
    return Run(Outcome(exit_text, wall_s, usage.ru_maxrss / 1024, first, ""), stdout)


@contextmanager
def serving(script: str, *args: str) -> Iterator[int]:
    """A child process running a server SCRIPT that prints its loopback port first."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()


def stored(store: Path) -> str:
    """Documents and chunks a store holds, from `rag status --json`."""
    if not store.exists():
        return "no store"
    done = subprocess.run(
        [*RAG, "status", "--store", str(store), "--json"], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        return f"status exit {done.returncode}"
    status = json.loads(done.stdout)
    return f"{status['documents']} docs, {status['chunks']} chunks"


def sql(store: Path, statement: str, parameters: tuple[object, ...] = ()) -> list[tuple]:
    """One statement on the store's database, committed (how the cases damage a store)."""
    with closing(sqlite3.connect(store / "store.sqlite3")) as db:
        rows = db.execute(statement, parameters).fetchall()
        db.commit()
        return rows


def note(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)
