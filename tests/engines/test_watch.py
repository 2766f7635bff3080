"""`rag ingest DIR --watch` in a real process: files change, `rag search` follows."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragcli.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
FAKE_EMBEDDER = ["--embed-model", "fake:64"]
# Long enough for a loaded CI machine; a change lands in well under a second here.
FOLLOW_S = 15.0


class Watch:
    """A running `rag ingest DIR --watch`, its stdout and stderr collected line by line."""

    def __init__(self, docs: Path, store: Path, *extra: str) -> None:
        self.store = store
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragcli", "ingest", str(docs), "--watch"]
            + ["--store", str(store), *FAKE_EMBEDDER, *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # A shell running the tests in the background ignores SIGINT, and so would rag.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=_collect, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=_collect, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def wait_for_line(self, text: str, stream: str = "err") -> str:
        """Wait until a line holding text was printed; return it."""
        lines = self.err if stream == "err" else self.out
        eventually(lambda: any(text in line for line in lines), f"a line with {text!r}", self)
        return next(line for line in lines if text in line)

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send a signal, wait for the exit; return the exit code."""
        self.process.send_signal(signum)
        return self.wait(30)

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit and the last lines; return the exit code."""
        code = self.process.wait(timeout=timeout_s)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def _collect(stream: Iterator[str], lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def eventually(check: Callable[[], bool], what: str, watch: Watch | None = None) -> None:
    """Poll check until it holds, failing after FOLLOW_S with what was awaited."""
    deadline = time.monotonic() + FOLLOW_S
    while not check():
        if watch is not None and watch.process.poll() is not None:
            pytest.fail(f"watch exited {watch.process.returncode}: {watch.err}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {FOLLOW_S:.0f} s; stderr: {watch and watch.err}")
        time.sleep(0.2)


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def found_in(store: Path, word: str) -> set[str]:
    """The file names (not paths) whose chunks hold the word, by `rag search`."""
    done = rag("search", word, "--store", str(store), "--mode", "keyword", "--json")
    assert done.returncode in (0, ExitCode.NOT_FOUND), done.stderr
    return {Path(json.loads(line)["path"]).name for line in done.stdout.splitlines()}


def follows(store: Path, word: str, names: set[str], watch: Watch) -> None:
    """Wait until searching the word finds exactly these files."""
    eventually(lambda: found_in(store, word) == names, f"search {word!r} -> {names}", watch)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "zebra.md").write_text("# Zebras\n\nZebras are striped horses, zebrine.\n")
    (folder / "owl.txt").write_text("Owls hunt mice at night, owlish.\n")
    return folder


@pytest.fixture
def watch(docs: Path, tmp_path: Path) -> Iterator[Watch]:
    running = Watch(docs, tmp_path / "store")
    try:
        running.wait_for_line("watching")
        yield running
    finally:
        running.kill()


def test_search_follows_create_modify_rename_delete(docs: Path, watch: Watch) -> None:
    store = watch.store
    assert "ingested 2 new" in watch.wait_for_line("ingested", stream="out")
    assert found_in(store, "zebrine") == {"zebra.md"}

    (docs / "notes").mkdir()
    (docs / "notes" / "quokka.md").write_text("Quokkas smile on Rottnest, quokkaword.\n")
    follows(store, "quokkaword", {"quokka.md"}, watch)
    line = watch.wait_for_line("quokka.md")
    assert line == f"rag: added {docs / 'notes' / 'quokka.md'} (1 chunk)"

    (docs / "owl.txt").write_text("Owls now hunt voles at dusk, volesword.\n")
    follows(store, "volesword", {"owl.txt"}, watch)
    follows(store, "owlish", set(), watch)
    watch.wait_for_line("updated")

    (docs / "zebra.md").rename(docs / "stripes.md")
    follows(store, "zebrine", {"stripes.md"}, watch)
    line = watch.wait_for_line("renamed")
    assert "zebra.md -> " in line and line.endswith("stripes.md")

    (docs / "notes" / "quokka.md").unlink()
    follows(store, "quokkaword", set(), watch)
    watch.wait_for_line("removed")

    # A folder moved in whole, then out again.
    moved = docs.parent / "outside"
    moved.mkdir()
    (moved / "tapir.md").write_text("Tapirs browse leaves, tapirword.\n")
    moved.rename(docs / "tapirs")
    follows(store, "tapirword", {"tapir.md"}, watch)
    (docs / "tapirs").rename(docs.parent / "gone")
    follows(store, "tapirword", set(), watch)

    stored = json.loads(rag("sources", "--store", str(store), "--json").stdout)
    assert sorted(Path(d["path"]).name for d in stored) == ["owl.txt", "stripes.md"]


def test_a_burst_of_writes_is_one_sync(docs: Path, watch: Watch) -> None:
    target = docs / "burst.md"
    with target.open("w") as handle:
        for number in range(5):
            handle.write(f"Line {number} of a burst, burstword.\n")
            handle.flush()
            os.fsync(handle.fileno())
    follows(watch.store, "burstword", {"burst.md"}, watch)
    (docs / "after.md").write_text("Written after the burst, afterword.\n")
    follows(watch.store, "afterword", {"after.md"}, watch)
    assert [line for line in watch.err if "burst.md" in line] == [
        "rag: added " + str(target) + " (1 chunk)"
    ]


def test_ignored_scratch_and_store_files_never_sync(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / ".ragignore").write_text("private/\n")
    store = docs / "store"  # inside the folder watched: its own writes are no change
    running = Watch(docs, store)
    try:
        started = len(running.err) if running.wait_for_line("watching") else 0
        (docs / "private").mkdir()
        (docs / "private" / "secret.md").write_text("Secret plans, secretword.\n")
        (docs / ".hidden.md").write_text("Hidden notes, secretword.\n")
        (docs / "draft.md~").write_text("A backup, secretword.\n")
        (docs / ".draft.md.swp").write_text("swap")
        (docs / "4913").write_text("")
        (docs / "public.md").write_text("Public notes, publicword.\n")
        follows(store, "publicword", {"public.md"}, running)
        assert found_in(store, "secretword") == set()

        # Ignoring a file that is stored removes it; the change to .ragignore is enough.
        (docs / ".ragignore").write_text("private/\npublic.md\n")
        follows(store, "publicword", set(), running)
        settled = len(running.err)
        time.sleep(2)  # a store that woke itself up would print more lines meanwhile
        assert len(running.err) == settled, running.err[settled:]
        unwanted = ("secret", "4913", "swp", "~", f"{store}{os.sep}")
        assert [line for line in running.err[started:] if any(u in line for u in unwanted)] == []
    finally:
        running.kill()


def test_lock_is_free_between_changes_and_a_busy_lock_is_waited_for(
    docs: Path, watch: Watch, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "ibis.md").write_text("Ibises wade in marshes, ibisword.\n")
    done = rag("ingest", str(other), "--store", str(watch.store), "--no-wait")
    assert done.returncode == 0, done.stderr
    assert found_in(watch.store, "ibisword") == {"ibis.md"}

    with open(watch.store / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: the watch holds it not
        (docs / "heron.md").write_text("Herons stand still, heronword.\n")
        watch.wait_for_line("waiting for another rag process")
        assert found_in(watch.store, "heronword") == set()
        fcntl.flock(lock, fcntl.LOCK_UN)
    follows(watch.store, "heronword", {"heron.md"}, watch)
    assert watch.process.poll() is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_it_cleanly(docs: Path, watch: Watch, signum: int) -> None:
    (docs / "lynx.md").write_text("Lynxes have tufted ears, lynxword.\n")
    follows(watch.store, "lynxword", {"lynx.md"}, watch)
    assert watch.stop(signum) == 0, watch.err
    assert watch.err[-1] == f"rag: stopped watching {docs}"
    doctor = rag("doctor", "--check", "--store", str(watch.store))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert found_in(watch.store, "lynxword") == {"lynx.md"}


def test_json_prints_one_event_a_line(docs: Path, tmp_path: Path) -> None:
    running = Watch(docs, tmp_path / "store", "--json")
    try:
        first = json.loads(running.wait_for_line('"ingested"', stream="out"))
        assert first["type"] == "ingested" and first["added"] == 2
        assert first["index"]["indexed"] == 2
        (docs / "owl.txt").rename(docs / "owl2.txt")
        (docs / "yak.md").write_text("Yaks live high up, yakword.\n")
        running.wait_for_line('"added"', stream="out")
        running.wait_for_line('"renamed"', stream="out")
        assert running.stop() == 0
    finally:
        running.kill()
    events = [json.loads(line) for line in running.out]
    keys = {"type", "path", "old_path", "chunks", "reason"}
    assert {
        "type": "added",
        "path": str(docs / "yak.md"),
        "old_path": None,
        "chunks": 1,
        "reason": None,
    } in events
    assert {
        "type": "renamed",
        "path": str(docs / "owl2.txt"),
        "old_path": str(docs / "owl.txt"),
        "chunks": None,
        "reason": None,
    } in events
    assert all(set(event) == keys for event in events[1:-1])
    assert events[-1] == {"type": "stopped", "interrupted_write": False}


def test_store_deleted_while_watching_is_fatal(docs: Path, watch: Watch) -> None:
    import shutil

    shutil.rmtree(watch.store)
    (docs / "emu.md").write_text("Emus run fast.\n")
    assert watch.wait(FOLLOW_S) == ExitCode.NO_STORE
    assert watch.err[-1].startswith(f"rag: error: no store at {watch.store}")


def test_usage_errors_and_a_missing_watchfiles(docs: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    done = rag("ingest", str(docs / "owl.txt"), "--watch", "--store", store)
    assert done.returncode == ExitCode.USAGE and "--watch follows folders" in done.stderr
    done = rag("ingest", str(docs), "--watch", "--dry-run", "--store", store)
    assert done.returncode == ExitCode.USAGE
    blocked = (
        "import sys\nsys.modules['watchfiles'] = None\nfrom ragcli.cli import main\n"
        f"main(['ingest', {str(docs)!r}, '--watch', '--store', {store!r}])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == ExitCode.MODEL
    assert done.stderr == (
        "rag: error: --watch needs watchfiles, which is not installed "
        "(pip install 'ragcli[watch]')\n"
    )
    assert not Path(store).exists()


def test_help_does_not_import_watchfiles() -> None:
    probe = (
        "import sys\nfrom ragcli.cli import main\n"
        "for args in (['--help'], ['ingest', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('watchfiles' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert "--watch" in done.stdout
    assert done.stdout.strip().endswith("False"), done.stdout


def test_scope_drops_events_that_cannot_matter(tmp_path: Path) -> None:
    from ragcli.watching import WatchScope

    docs = tmp_path / "docs"
    docs.mkdir()
    scope = WatchScope.of([docs], docs / "store")
    real = os.path.realpath(docs)
    kept = ["a.md", "sub/b.pdf", "sub/.gitignore", ".ragignore", "sub/new-folder"]
    dropped = ["store/store.sqlite3-wal", "store/lock", ".git/index", "node_modules/x.md"]
    dropped += ["a.md~", ".a.md.swp", "sub/4913", "#a.md#", ".hidden.md", ".cache/c.md"]
    assert [name for name in kept if not scope.wanted(f"{real}/{name}")] == []
    assert [name for name in dropped if scope.wanted(f"{real}/{name}")] == []
    assert not scope.wanted(str(tmp_path / "elsewhere.md"))
    changed = {f"{real}/sub/.gitignore", f"{real}/sub/x.md", f"{real}/b.md", f"{real}/a.md~"}
    [(folder, paths)] = scope.changed(changed).items()
    assert folder.given == docs and paths == [docs / "b.md", docs / "sub"]


def test_links_in_a_watched_folder_never_remove_documents_outside_it(tmp_path: Path) -> None:
    other, sibling, notes = tmp_path / "other", tmp_path / "sibling", tmp_path / "notes"
    for folder in (other, sibling, notes):
        folder.mkdir()
    (other / "o.md").write_text("Otters float on their backs, otterword.\n")
    (sibling / "s.md").write_text("Seals bark on rocks, sealword.\n")
    (notes / "n.md").write_text("Newts swim in ponds, newtword.\n")
    store = tmp_path / "store"
    done = rag("ingest", str(other), str(sibling), "--store", str(store), *FAKE_EMBEDDER)
    assert done.returncode == 0, done.stderr
    running = Watch(notes, store)
    try:
        running.wait_for_line("watching")
        links = {"root": "/", "up": "..", "sib": "../sibling", "o.md": "../other/o.md"}
        for name, target in links.items():
            (notes / name).symlink_to(target)
        for name in links:
            line = running.wait_for_line(f"skipped {notes / name}:")
            assert line.endswith(f"link points outside {notes}"), line
        (notes / "later.md").write_text("Written after the links, laterword.\n")
        follows(store, "laterword", {"later.md"}, running)
        (notes / "root").unlink()  # a link that goes is an entry of the folder, nothing more
        (notes / "o.md").unlink()
        (notes / "gone.md").write_text("The last change, goneword.\n")
        follows(store, "goneword", {"gone.md"}, running)
    finally:
        running.kill()
    stored = json.loads(rag("sources", "--store", str(store), "--json").stdout)
    names = sorted(Path(d["path"]).name for d in stored)
    assert names == ["gone.md", "later.md", "n.md", "o.md", "s.md"]
    assert found_in(store, "otterword") == {"o.md"}


def test_links_are_followed_into_the_folder_under_follow_links_and_a_quiet_watch(
    tmp_path: Path,
) -> None:
    other, notes = tmp_path / "other", tmp_path / "notes"
    other.mkdir()
    notes.mkdir()
    (other / "o.md").write_text("Otters float on their backs, otterword.\n")
    store = tmp_path / "store"
    running = Watch(notes, store, "--quiet")
    try:
        running.wait_for_line("ingested", stream="out")
        (notes / "up").symlink_to("..")
        (notes / "o.md").symlink_to("../other/o.md")
        (notes / "n.md").write_text("Newts swim in ponds, newtword.\n")
        follows(store, "newtword", {"n.md"}, running)
        assert found_in(store, "otterword") == set()
        assert running.err == []  # passed over on purpose: a note, which --quiet leaves out
    finally:
        running.kill()
    done = rag("ingest", str(notes), "--store", str(store), "--follow-links", "-q")
    assert done.returncode == 0, done.stderr
    assert found_in(store, "otterword") == {"o.md"}


@pytest.mark.parametrize("pause_s", [0.0, 2.0])
def test_a_watched_folder_deleted_and_made_again_ends_the_watch_whatever_the_timing(
    docs: Path, watch: Watch, pause_s: float
) -> None:
    import shutil

    shutil.rmtree(docs)
    time.sleep(pause_s)
    docs.mkdir()
    (docs / "b.md").write_text("Made in the new folder, newword.\n")
    assert watch.wait(FOLLOW_S) == ExitCode.INPUT_NOT_FOUND, watch.err
    assert watch.err[-1].startswith(f"rag: error: the watched folder {docs} ")
    assert "its documents are kept" in watch.err[-1]
    assert found_in(watch.store, "zebrine") == {"zebra.md"}
    assert found_in(watch.store, "owlish") == {"owl.txt"}


def test_a_watched_folder_moved_away_ends_the_watch(docs: Path, watch: Watch) -> None:
    docs.rename(docs.parent / "moved")
    assert watch.wait(FOLLOW_S) == ExitCode.INPUT_NOT_FOUND, watch.err
    gone = f"rag: error: the watched folder {docs} is gone (its documents are kept)"
    assert watch.err[-1] == gone
    assert found_in(watch.store, "zebrine") == {"zebra.md"}


@pytest.mark.parametrize("where", ["same", "above"])
def test_a_folder_in_the_store_cannot_be_watched(tmp_path: Path, where: str) -> None:
    store = tmp_path / "store"
    folder = store if where == "same" else store / "notes"
    folder.mkdir(parents=True)
    (folder / "a.md").write_text("A note.\n")
    done = rag("ingest", str(folder), "--watch", "--store", str(store), *FAKE_EMBEDDER)
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith(f"rag: error: --watch cannot follow {folder}: it lies in")
    assert len(done.stderr.splitlines()) == 1
