"""Paths given to `rag`: bounded --files-from, special files, odd names, links, `rm` targets."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from ragcli.errors import ExitCode
from tests.conftest import run_rag as run

Capture = pytest.CaptureFixture[str]
FAKE_EMBEDDER = ["--embed-model", "fake:64"]


def rag_process(
    *args: str, cwd: Path, stdin: str | bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `rag ARGS` in a child with 1 GB of address space and a hang guard."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        [sys.executable, "-m", "ragcli", *args], input=data, capture_output=True, cwd=cwd,
        timeout=60, preexec_fn=cap_memory,
    )
    return subprocess.CompletedProcess(done.args, done.returncode,
                                       done.stdout.decode(errors="replace"),
                                       done.stderr.decode(errors="replace"))


@pytest.mark.parametrize(
    ("source", "null", "message"),
    [
        ("/dev/zero", False, "record 1 is longer than PATH_MAX"),
        ("/dev/zero", True, "more than 10,000,000 records"),
        ("/dev/urandom", False, "record 1"),
        ("/dev/urandom", True, "record 1"),
    ],
)
def test_files_from_an_endless_stream_ends_with_one_line(
    tmp_path: Path, source: str, null: bool, message: str
) -> None:
    flags = ["-0"] if null else []
    done = rag_process("ingest", "--files-from", source, *flags, "--store",
                       str(tmp_path / "store"), *FAKE_EMBEDDER, cwd=tmp_path)
    assert done.returncode in (ExitCode.USAGE, ExitCode.INPUT_NOT_FOUND), done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "store").exists()


def test_files_from_a_directory_is_a_usage_error(tmp_path: Path, capsys: Capture) -> None:
    code, _, err = run(capsys, "ingest", "--files-from", str(tmp_path), "--store",
                       str(tmp_path / "store"))
    assert code == ExitCode.USAGE and "is a directory, not a list of paths" in err


def test_special_files_named_are_skipped_with_exit_6_and_never_opened(tmp_path: Path) -> None:
    import socket

    (tmp_path / "good.md").write_text("Capybaras are large rodents.\n")
    os.mkfifo(tmp_path / "pipe.md")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock.md"))
    try:
        # A FIFO with no writer blocks whoever opens it: the child's timeout catches a hang.
        done = rag_process("ingest", "good.md", "pipe.md", "--files-from", "-", "--store",
                           "store", *FAKE_EMBEDDER, cwd=tmp_path, stdin="sock.md\n/dev/null\n")
    finally:
        listener.close()
    assert done.returncode == ExitCode.FILES_SKIPPED, done.stderr
    assert "ingested 1 new" in done.stdout
    assert "pipe.md: not a regular file (a FIFO)" in done.stderr
    assert "sock.md: not a regular file (a socket)" in done.stderr
    assert "skipped /dev/null: not a regular file (a character device)" in done.stderr


def test_special_files_in_a_folder_are_passed_over_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.md").write_text("Capybaras are large rodents.\n")
    os.mkfifo(tmp_path / "docs" / "pipe.md")
    done = rag_process("ingest", "docs", "--store", "store", *FAKE_EMBEDDER, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "docs/pipe.md: not a regular file (a FIFO)" in done.stderr
