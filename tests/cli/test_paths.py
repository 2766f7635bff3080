"""Paths given to `rag`: bounded --files-from, special files, odd names, links, `rm` targets."""

from __future__ import annotations

import json
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
        [sys.executable, "-m", "ragcli", *args],
        input=data,
        capture_output=True,
        cwd=cwd,
        timeout=60,
        preexec_fn=cap_memory,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )


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
    done = rag_process(
        "ingest",
        "--files-from",
        source,
        *flags,
        "--store",
        str(tmp_path / "store"),
        *FAKE_EMBEDDER,
        cwd=tmp_path,
    )
    assert done.returncode in (ExitCode.USAGE, ExitCode.INPUT_NOT_FOUND), done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "store").exists()


def test_files_from_a_directory_is_a_usage_error(tmp_path: Path, capsys: Capture) -> None:
    code, _, err = run(
        capsys, "ingest", "--files-from", str(tmp_path), "--store", str(tmp_path / "store")
    )
    assert code == ExitCode.USAGE and "is a directory, not a list of paths" in err


def test_special_files_named_are_skipped_with_exit_6_and_never_opened(tmp_path: Path) -> None:
    import socket

    (tmp_path / "good.md").write_text("Capybaras are large rodents.\n")
    os.mkfifo(tmp_path / "pipe.md")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock.md"))
    try:
        # A FIFO with no writer blocks whoever opens it: the child's timeout catches a hang.
        done = rag_process(
            "ingest",
            "good.md",
            "pipe.md",
            "--files-from",
            "-",
            "--store",
            "./store",
            *FAKE_EMBEDDER,
            cwd=tmp_path,
            stdin="sock.md\n/dev/null\n",
        )
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
    done = rag_process("ingest", "docs", "--store", "./store", *FAKE_EMBEDDER, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "docs/pipe.md: not a regular file (a FIFO)" in done.stderr


def undecodable_name(folder: Path, text: str) -> Path:
    """Create a file whose name is not valid UTF-8 (b'caf\\xe9.txt'); skip if refused."""
    raw = os.fsencode(folder) + b"/caf\xe9.txt"
    try:
        with open(raw, "wb") as handle:
            handle.write(text.encode())
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    return Path(os.fsdecode(raw))


def test_a_name_that_is_not_utf8_is_stored_and_given_back_losslessly(
    tmp_path: Path, capsys: Capture
) -> None:
    from ragcli.store import Store

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plain.md").write_text("Tapirs have short trunks.\n")
    odd = undecodable_name(docs, "Axolotls regrow their limbs.\n")
    store = str(tmp_path / "store")
    code, out, err = run(capsys, "ingest", str(docs), "--store", store, *FAKE_EMBEDDER)
    assert code == 0 and "ingested 2 new" in out, err
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store)
    assert code == 0 and "2 unchanged" in out  # found again under the same stored name
    with Store.open(Path(store)) as opened:
        assert [os.fsencode(d.path) for d in opened.documents()] == [
            os.fsencode(docs / "caf\udce9.txt"),
            os.fsencode(docs / "plain.md"),
        ]
        assert opened.document_paths(under=str(docs)) == [str(odd), str(docs / "plain.md")]
        chunks = opened.chunks_by_id(list(map(int, opened.chunk_ids())))
        assert sorted(c.path for c in chunks.values()) == [str(odd), str(docs / "plain.md")]
        hits = opened.keyword_search('"Axolotls"', 1)
        assert [chunks[chunk_id].path for chunk_id, _ in hits] == [str(odd)]
    # Printing such a name is output.py's job (escaped); here the store gives it back intact.
    code, out, _ = run(capsys, "rm", str(odd), "--store", store)
    assert code == 0 and "removed 1 documents" in out
    code, out, _ = run(capsys, "ingest", str(odd), "--store", store)  # named alone
    assert code == 0 and "ingested 1 new" in out


def test_a_folder_whose_name_is_not_utf8_syncs(tmp_path: Path, capsys: Capture) -> None:
    raw = os.fsencode(tmp_path) + b"/d\xff"
    try:
        os.mkdir(raw)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    folder = Path(os.fsdecode(raw))
    undecodable_name(folder, "Okapis have striped legs.\n")
    (folder / "b.md").write_text("Pangolins have scales.\n")
    store = str(tmp_path / "store")
    code, out, _ = run(capsys, "ingest", str(folder), "--store", store, *FAKE_EMBEDDER)
    assert code == 0 and "ingested 2 new" in out
    (folder / "b.md").unlink()
    code, out, _ = run(capsys, "ingest", str(folder), "--store", store)
    assert code == 0 and "1 unchanged; 1 removed" in out
    code, out, _ = run(capsys, "rm", str(folder), "--store", store)
    assert code == 0 and "removed 1 documents" in out


@pytest.mark.parametrize("target", ["", " ", ".", "./", "/", "//", "..", "../..", "/tmp/.."])
def test_rm_refuses_an_empty_or_root_like_target(
    target: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("Quokkas smile.\n")
    monkeypatch.chdir(tmp_path / "docs")
    store = str(tmp_path / "store")
    assert run(capsys, "ingest", ".", "--store", store, *FAKE_EMBEDDER)[0] == 0
    code, out, err = run(capsys, "rm", target, "--store", store)
    assert code == ExitCode.USAGE and "refusing" in err and len(err.splitlines()) == 1
    assert "1 documents" in run(capsys, "sources", "--store", store)[1]


def test_rm_all_empties_the_store_and_a_named_folder_still_works(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("docs/a.md", "docs/sub/b.md", "other/c.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"Wombats dig burrows {name}.\n")
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")
    assert run(capsys, "ingest", "docs", "other", "--store", store, *FAKE_EMBEDDER)[0] == 0
    code, out, _ = run(capsys, "rm", "docs/sub/", "--store", store)
    assert code == 0 and "removed 1 documents" in out
    assert run(capsys, "rm", "docs", "--all", "--store", store)[0] == ExitCode.USAGE
    assert run(capsys, "rm", "--store", store)[0] == ExitCode.USAGE
    code, out, _ = run(capsys, "rm", "--all", "--store", store, "--json")
    assert code == 0 and len(json.loads(out)["removed"]) == 2
    assert "0 documents" in run(capsys, "sources", "--store", store)[1]


def stored_paths(capsys: Capture, store: str) -> list[str]:
    code, out, _ = run(capsys, "sources", "--store", store, "--json")
    assert code == 0
    return sorted(d["path"] for d in json.loads(out))


@pytest.mark.parametrize("how", ["files-from", "argument"])
def test_a_planted_link_to_a_file_outside_is_not_stored(
    how: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "shadow").write_text("root:SECRETHASH:19000:0:99999:7:::\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "readme.txt").write_text("Numbats eat termites.\n")
    (repo / "notes.txt").symlink_to(tmp_path / "outside" / "shadow")
    monkeypatch.chdir(repo)
    store = str(tmp_path / "store")
    if how == "files-from":
        (tmp_path / "list").write_bytes(b"readme.txt\0notes.txt\0")
        args = ["--files-from", str(tmp_path / "list"), "-0"]
    else:
        args = ["readme.txt", "notes.txt"]
    code, out, err = run(capsys, "ingest", *args, "--store", store, *FAKE_EMBEDDER)
    assert code == ExitCode.FILES_SKIPPED
    assert "notes.txt: link points outside the current directory" in err
    assert stored_paths(capsys, store) == [str(repo / "readme.txt")]
    code, out, _ = run(capsys, "search", "SECRETHASH", "--store", store, "--mode", "keyword")
    assert "SECRETHASH" not in out
    code, out, err = run(capsys, "ingest", *args, "--follow-links", "--store", store)
    assert code == 0, err
    assert str(tmp_path / "outside" / "shadow") in stored_paths(capsys, store)


def test_one_file_is_one_document_whatever_the_route(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    for name in ("a.md", "b.txt", "sub/c.md", "sub/d.txt", "sub/deep/e.md", "f.rst"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(f"Dugongs graze seagrass {name}.\n")
    (tmp_path / "alias").symlink_to("tree")
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")
    code, out, _ = run(
        capsys, "ingest", "tree", "alias", "tree/sub/../../tree", "--store", store, *FAKE_EMBEDDER
    )
    assert code == 0 and "ingested 6 new" in out
    for route in ("alias", "tree/../alias", "alias/sub/.."):
        code, out, _ = run(capsys, "ingest", route, "--store", store)
        assert code == 0 and "0 new" in out and "6 unchanged; 0 removed" in out, out
    (tree / "sub" / "d.txt").unlink()
    code, out, _ = run(capsys, "ingest", "alias", "--store", store)  # sync through the link
    assert "1 removed" in out
    assert len(stored_paths(capsys, store)) == 5
    assert all(p.startswith(str(tree)) for p in stored_paths(capsys, store))
    code, out, _ = run(capsys, "rm", "alias/sub", "--store", store)
    assert code == 0 and "removed 2 documents" in out


def test_documents_stored_under_a_linked_path_move_to_the_resolved_one(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.md").write_text("Kakapos are flightless parrots.\n")
    (tree / "b.md").write_text("Kiwis lay huge eggs.\n")
    (tmp_path / "alias").symlink_to("tree")
    store = str(tmp_path / "store")
    assert run(capsys, "ingest", str(tree), "--store", store, *FAKE_EMBEDDER)[0] == 0
    # What an older ragcli stored for `rag ingest alias`: the path as reached, unresolved.
    with sqlite3.connect(Path(store) / "store.sqlite3") as database:
        database.execute(
            "UPDATE documents SET path = replace(path, ?, ?)", (str(tree), str(tmp_path / "alias"))
        )
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "ingest", "alias", "--store", store)
    assert code == 0, err
    assert "0 new and 0 changed files (0 chunks); 2 unchanged; 0 removed" in out
    assert stored_paths(capsys, store) == [str(tree / "a.md"), str(tree / "b.md")]
