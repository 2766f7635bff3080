"""ragcli.discovery: real trees in tmp_path, with ignore files, links, fifos and odd names."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from ragcli.discovery import DiscoveryOptions, discover, discover_below, path_lists
from ragcli.discovery.path_lists import iter_path_records, read_path_list
from ragcli.errors import InputNotFoundError, UsageError
from ragcli.records import Found, Skipped


def make(root: Path, *names: str) -> None:
    """Create files (and their directories) under root, each holding its own name."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name, encoding="utf-8")


def run(
    paths: Iterable[Path], options: DiscoveryOptions | None = None
) -> tuple[list[Found], list[Skipped]]:
    """Discover everything under paths; return what was found and what was skipped."""
    skipped: list[Skipped] = []
    found = list(discover(list(paths), options or DiscoveryOptions(), skipped))
    return found, skipped


def names(found: list[Found], root: Path) -> list[str]:
    """Paths of found files relative to root, in the order they came."""
    return [f.path.relative_to(root).as_posix() for f in found]


def reasons(skipped: list[Skipped], root: Path) -> dict[str, tuple[str, bool]]:
    """Skipped records keyed by path relative to root."""
    return {Path(s.path).relative_to(root).as_posix(): (s.reason, s.failed) for s in skipped}


def test_walks_nested_dirs_in_name_order_and_notes_unsupported(tmp_path: Path) -> None:
    make(tmp_path, "b.md", "a/z.txt", "a/b/c.rst", "a/b/d.pdf", "c.html", "data.xlsx", "a/README")
    found, skipped = run([tmp_path])
    assert names(found, tmp_path) == ["a/b/c.rst", "a/b/d.pdf", "a/z.txt", "b.md", "c.html"]
    assert [f.kind for f in found] == ["rst", "pdf", "text", "markdown", "html"]
    assert all(f.root == tmp_path and f.path.is_absolute() for f in found)
    assert reasons(skipped, tmp_path) == {
        "a/README": ("unsupported format (no extension)", False),
        "data.xlsx": ("unsupported format .xlsx", False),
    }


def test_order_is_the_same_on_every_run(tmp_path: Path) -> None:
    make(tmp_path, *(f"d{i % 7}/f{i * 37 % 101}.md" for i in range(60)))
    first = names(run([tmp_path])[0], tmp_path)
    assert first == names(run([tmp_path])[0], tmp_path)
    assert first == sorted(first)


def test_skips_hidden_caches_and_virtualenvs_silently(tmp_path: Path) -> None:
    make(
        tmp_path,
        "keep.md",
        ".hidden.md",
        ".notes/a.md",
        ".git/HEAD.txt",
        "node_modules/pkg/readme.md",
        "src/__pycache__/x.txt",
        ".tox/log.txt",
        ".mypy_cache/a.txt",
        ".pytest_cache/README.md",
        "lib/site-packages/pkg/README.md",
        "env/pyvenv.cfg",
        "env/lib/doc.md",
        "venv/bin/activate",
        "venv/doc.md",
        "winenv/Scripts/activate",
        "winenv/doc.md",
    )
    found, skipped = run([tmp_path])
    # A dir with Scripts/activate but no pyvenv.cfg is a venv only when named venv/.venv.
    assert names(found, tmp_path) == ["keep.md", "winenv/doc.md"]
    assert reasons(skipped, tmp_path) == {
        "winenv/Scripts/activate": ("unsupported format (no extension)", False)
    }


def test_a_hidden_directory_named_explicitly_is_walked(tmp_path: Path) -> None:
    make(tmp_path, ".notes/a.md")
    found, _ = run([tmp_path / ".notes"])
    assert names(found, tmp_path) == [".notes/a.md"]


def test_gitignore_patterns_negation_dirs_and_anchors(tmp_path: Path) -> None:
    make(
        tmp_path,
        "a.txt",
        "keep.txt",
        "sub/b.txt",
        "sub/keep.txt",
        "build/out.md",
        "sub/build/out.md",
        "notdir/build",
        "top.md",
        "sub/top.md",
        "docs/x/y/draft.md",
        "docs/final.md",
    )
    (tmp_path / ".gitignore").write_text(
        "# comment\n*.txt\n!keep.txt\nbuild/\n/top.md\ndocs/**/draft.md\n", encoding="utf-8"
    )
    found, skipped = run([tmp_path])
    assert names(found, tmp_path) == ["docs/final.md", "keep.txt", "sub/keep.txt", "sub/top.md"]
    # `build/` matches directories only: the file notdir/build is not ignored.
    assert reasons(skipped, tmp_path) == {
        "notdir/build": ("unsupported format (no extension)", False)
    }


def test_deeper_ignore_files_override_outer_ones(tmp_path: Path) -> None:
    make(tmp_path, "a.txt", "sub/b.txt", "sub/c.md", "sub/deep/d.txt", "other/e.md")
    (tmp_path / ".gitignore").write_text("*.txt\n", encoding="utf-8")
    (tmp_path / "sub" / ".gitignore").write_text("!*.txt\n/c.md\n", encoding="utf-8")
    (tmp_path / "sub" / "deep" / ".gitignore").write_text("d.txt\n", encoding="utf-8")
    found, _ = run([tmp_path])
    assert names(found, tmp_path) == ["other/e.md", "sub/b.txt"]


def test_negation_cannot_reach_into_an_ignored_directory(tmp_path: Path) -> None:
    make(tmp_path, "build/keep.md", "build/other.md")
    (tmp_path / ".gitignore").write_text("build/\n!build/keep.md\n", encoding="utf-8")
    assert run([tmp_path])[0] == []


def test_ragignore_applies_and_overrides_gitignore(tmp_path: Path) -> None:
    make(tmp_path, "a.md", "drafts/b.md", "c.txt", "sub/d.md")
    (tmp_path / ".gitignore").write_text("*.txt\n", encoding="utf-8")
    (tmp_path / ".ragignore").write_text("drafts/\n!c.txt\n", encoding="utf-8")
    (tmp_path / "sub" / ".ragignore").write_text("*.md\n", encoding="utf-8")
    found, _ = run([tmp_path])
    assert names(found, tmp_path) == ["a.md", "c.txt"]


def test_include_and_exclude_patterns(tmp_path: Path) -> None:
    make(tmp_path, "a.md", "b.txt", "docs/c.md", "docs/old/d.md", "notes/e.md", "x.csv")
    options = DiscoveryOptions(include=("*.md",), exclude=("old/", "/notes"))
    found, skipped = run([tmp_path], options)
    assert names(found, tmp_path) == ["a.md", "docs/c.md"]
    assert skipped == []
    found, _ = run([tmp_path], DiscoveryOptions(include=("docs/", "!docs/old/")))
    assert names(found, tmp_path) == ["docs/c.md"]


def test_patterns_are_relative_to_the_root_given(tmp_path: Path) -> None:
    make(tmp_path, "docs/top.md", "docs/sub/top.md")
    found, _ = run([tmp_path / "docs"], DiscoveryOptions(exclude=("/top.md",)))
    assert names(found, tmp_path) == ["docs/sub/top.md"]
    assert found[0].root == tmp_path / "docs"


def test_a_named_file_is_taken_even_when_ignored_or_hidden(tmp_path: Path) -> None:
    make(tmp_path, "a.txt", ".secret.md", "data.xlsx")
    (tmp_path / ".gitignore").write_text("*.txt\n", encoding="utf-8")
    named = [tmp_path / "a.txt", tmp_path / ".secret.md", tmp_path / "data.xlsx", tmp_path]
    found, skipped = run(named, DiscoveryOptions(exclude=("a.txt",)))
    assert names(found, tmp_path) == ["a.txt", ".secret.md"]
    assert found[0].root == tmp_path
    # Named and unsupported: a failure; the same file met again in the walk: just a note.
    assert skipped == [
        Skipped(str(tmp_path / "data.xlsx"), "unsupported format .xlsx", failed=True),
        Skipped(str(tmp_path / "data.xlsx"), "unsupported format .xlsx", failed=False),
    ]


def test_paths_come_back_resolved_with_the_route_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, "real/a.md", "real/b.md")
    (tmp_path / "alias").symlink_to("real")
    monkeypatch.chdir(tmp_path)
    found, _ = run([Path("alias"), Path("real/../alias/b.md")])
    assert [f.path for f in found] == [tmp_path / "real" / "a.md", tmp_path / "real" / "b.md"]
    assert [f.given for f in found] == [tmp_path / "alias" / "a.md", tmp_path / "alias" / "b.md"]
    assert found[0].root == tmp_path / "alias"
    found, _ = run([Path("real/../alias/b.md")])  # `..` and a link: one file, one path
    assert [f.path for f in found] == [tmp_path / "real" / "b.md"]


def test_link_to_a_file_inside_is_taken_once(tmp_path: Path) -> None:
    make(tmp_path, "real.md", "sub/z.md")
    (tmp_path / "alias.md").symlink_to("real.md")
    (tmp_path / "sub" / "again.md").symlink_to("../real.md")
    found, skipped = run([tmp_path, tmp_path / "real.md"])
    assert names(found, tmp_path) == ["real.md", "sub/z.md"]
    assert found[0].given == tmp_path / "alias.md"
    assert skipped == []


def test_link_to_a_directory_inside_is_followed_once(tmp_path: Path) -> None:
    make(tmp_path, "b/x.md")
    (tmp_path / "a").symlink_to("b")
    found, skipped = run([tmp_path])
    assert names(found, tmp_path) == ["b/x.md"]
    assert found[0].given == tmp_path / "a" / "x.md"
    assert skipped == []


def test_links_outside_the_root_are_skipped_with_a_reason(tmp_path: Path) -> None:
    make(tmp_path, "outside/secret.md", "outside/note.md", "root/a.md")
    root = tmp_path / "root"
    (root / "ext").symlink_to(tmp_path / "outside")
    (root / "ext.md").symlink_to("../outside/note.md")
    found, skipped = run([root])
    assert names(found, root) == ["a.md"]
    assert reasons(skipped, root) == {
        "ext": (f"link points outside {root}", False),
        "ext.md": (f"link points outside {root}", False),
    }


def test_a_named_link_leading_outside_the_current_directory_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, "outside/secret.md", "outside/dir/s.md", "repo/inside.md", "repo/real/r.md")
    repo = tmp_path / "repo"
    (repo / "notes.md").symlink_to(tmp_path / "outside" / "secret.md")
    (repo / "docs").symlink_to(tmp_path / "outside" / "dir")
    (repo / "alias.md").symlink_to("inside.md")
    (repo / "linked").symlink_to("real")
    monkeypatch.chdir(repo)
    named = [
        Path("notes.md"),
        Path("docs"),
        Path("docs/s.md"),
        Path("alias.md"),
        Path("linked/r.md"),
        tmp_path / "outside" / "secret.md",
    ]
    found, skipped = run(named)
    # Inside the current directory a link is fine; a path with no link is taken anywhere.
    assert [f.path for f in found] == [
        repo / "inside.md",
        repo / "real" / "r.md",
        tmp_path / "outside" / "secret.md",
    ]
    secret, folder = tmp_path / "outside" / "secret.md", tmp_path / "outside" / "dir"
    assert skipped == [
        Skipped(
            str(repo / "notes.md"),
            f"link points outside the current directory (to {secret}); --follow-links takes it",
            failed=True,
        ),
        Skipped(
            str(repo / "docs"),
            f"link points outside the current directory (to {folder}); --follow-links takes it",
            failed=True,
        ),
        Skipped(
            str(repo / "docs" / "s.md"),
            f"link points outside the current directory (to "
            f"{folder / 's.md'}); --follow-links takes it",
            failed=True,
        ),
    ]
    found, skipped = run(named, DiscoveryOptions(links_outside=True))
    assert [f.path for f in found] == [
        secret,
        folder / "s.md",
        repo / "inside.md",
        repo / "real" / "r.md",
    ]
    assert skipped == []


def test_links_outside_the_root_are_followed_when_asked(tmp_path: Path) -> None:
    make(tmp_path, "outside/note.md", "root/a.md")
    (tmp_path / "root" / "ext").symlink_to(tmp_path / "outside")
    found, skipped = run([tmp_path / "root"], DiscoveryOptions(links_outside=True))
    assert [f.path for f in found] == [tmp_path / "root" / "a.md", tmp_path / "outside/note.md"]
    assert found[1].given == tmp_path / "root" / "ext" / "note.md"


def test_symlink_loops_end_and_are_reported(tmp_path: Path) -> None:
    make(tmp_path, "a/x.md", "b/y.md")
    (tmp_path / "a" / "loop").symlink_to("..")
    (tmp_path / "a" / "to_b").symlink_to("../b")
    (tmp_path / "b" / "to_a").symlink_to("../a")
    (tmp_path / "self.md").symlink_to("self.md")
    found, skipped = run([tmp_path])
    assert names(found, tmp_path) == ["b/y.md", "a/x.md"]
    assert found[0].given == tmp_path / "a" / "to_b" / "y.md"
    assert reasons(skipped, tmp_path) == {
        "a/loop": ("symlink loop", False),
        "a/to_b/to_a": ("symlink loop", False),
        "self.md": ("symlink loop", False),
    }


def test_broken_links_are_noted_and_fail_when_named(tmp_path: Path) -> None:
    (tmp_path / "gone.md").symlink_to("nowhere.md")
    _, skipped = run([tmp_path, tmp_path / "gone.md"])
    assert skipped == [
        Skipped(str(tmp_path / "gone.md"), "broken symlink", failed=False),
        Skipped(str(tmp_path / "gone.md"), "broken symlink", failed=True),
    ]


def test_links_are_passed_over_when_not_followed(tmp_path: Path) -> None:
    make(tmp_path, "real.md", "dir/x.md")
    (tmp_path / "alias.md").symlink_to("real.md")
    (tmp_path / "dir2").symlink_to("dir")
    found, skipped = run([tmp_path], DiscoveryOptions(follow_symlinks=False))
    assert names(found, tmp_path) == ["dir/x.md", "real.md"]
    assert reasons(skipped, tmp_path) == {
        "alias.md": ("symlink not followed", False),
        "dir2": ("symlink not followed", False),
    }


def test_fifo_is_passed_over_in_a_walk_fails_when_named_and_is_never_opened(tmp_path: Path) -> None:
    make(tmp_path, "a.md")
    os.mkfifo(tmp_path / "pipe.md")
    # Opening a fifo with no writer blocks; a child with a timeout turns a hang into a failure.
    script = (
        "import sys; from pathlib import Path;"
        "from ragcli.discovery import DiscoveryOptions, discover;"
        "root = Path(sys.argv[1]); skipped = [];"
        "found = list(discover([root, root / 'pipe.md'], DiscoveryOptions(), skipped));"
        "print([f.path.name for f in found]); print([(s.reason, s.failed) for s in skipped])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "['a.md']",
        "[('not a regular file (a FIFO)', False), ('not a regular file (a FIFO)', True)]",
    ]


def permissions_enforced(probe: Path) -> bool:
    """Say whether this process is kept out of a mode-000 directory (root usually is not)."""
    probe.mkdir()
    probe.chmod(0)
    try:
        os.listdir(probe)
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)
        probe.rmdir()
    return False


def test_unreadable_directory_and_file_fail(tmp_path: Path) -> None:
    if not permissions_enforced(tmp_path / "probe"):
        pytest.skip(
            "running as root, which reads mode-000 files; the removed-directory test "
            "covers the listing failure"
        )
    make(tmp_path, "a.md", "locked/b.md", "secret.md")
    (tmp_path / "locked").chmod(0)
    (tmp_path / "secret.md").chmod(0)
    try:
        found, skipped = run([tmp_path])
    finally:
        (tmp_path / "locked").chmod(0o755)
        (tmp_path / "secret.md").chmod(0o644)
    assert names(found, tmp_path) == ["a.md"]
    assert reasons(skipped, tmp_path) == {
        "locked": ("permission denied", True),
        "secret.md": ("permission denied", True),
    }


def test_a_directory_that_cannot_be_listed_fails_and_the_walk_goes_on(tmp_path: Path) -> None:
    make(tmp_path, "a.md", "b/x.md", "c.md")
    skipped: list[Skipped] = []
    walk = discover([tmp_path], DiscoveryOptions(), skipped)
    assert next(walk).path == tmp_path / "a.md"
    shutil.rmtree(tmp_path / "b")
    assert [f.path for f in walk] == [tmp_path / "c.md"]
    assert skipped == [Skipped(str(tmp_path / "b"), "no such file or directory", failed=True)]


def test_a_missing_named_path_fails(tmp_path: Path) -> None:
    found, skipped = run([tmp_path / "nope.md"])
    assert found == []
    assert skipped == [Skipped(str(tmp_path / "nope.md"), "no such file or directory", True)]


ODD_NAMES = ["naïve résumé.md", 'quote"s.txt', "it's.md", "new\nline.txt", "tab\there.md"]


def test_odd_names_are_found_and_ignored_correctly(tmp_path: Path) -> None:
    make(tmp_path, *ODD_NAMES, "dir\nwith newline/x.txt", "dir\nwith newline/y.log.txt")
    (tmp_path / ".gitignore").write_text("*.log.txt\nit's.md\n", encoding="utf-8")
    found, skipped = run([tmp_path])
    assert sorted(names(found, tmp_path)) == sorted(
        [
            "naïve résumé.md",
            'quote"s.txt',
            "new\nline.txt",
            "tab\there.md",
            "dir\nwith newline/x.txt",
        ]
    )
    assert skipped == []


def test_undecodable_byte_names_round_trip(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.md"
    with open(raw, "wb") as handle:
        handle.write(b"x")
    found, _ = run([tmp_path])
    assert [os.fsencode(f.path) for f in found] == [raw]


def test_read_path_list_by_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path, "a.md", "some dir/b c.txt", "  lead.md", "last.md")
    stream = io.BytesIO(b"a.md\r\n\nsome dir/b c.txt\n  lead.md\nlast.md")
    assert read_path_list(stream, nul_separated=False) == [
        Path("a.md"),
        Path("some dir/b c.txt"),
        Path("  lead.md"),
        Path("last.md"),
    ]


def test_read_path_list_nul_separated_keeps_newlines_and_odd_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path, "new\nline.txt", "naïve.md", "trailing\r")
    try:
        Path(os.fsdecode(b"caf\xe9.md")).write_text("x")
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    stream = io.BytesIO(b"new\nline.txt\0\0na\xc3\xafve.md\0caf\xe9.md\0trailing\r\0")
    paths = read_path_list(stream, nul_separated=True)
    assert paths[:3] == [Path("new\nline.txt"), Path("naïve.md"), Path(os.fsdecode(b"caf\xe9.md"))]
    assert os.fsencode(paths[2]) == b"caf\xe9.md"
    assert paths[3] == Path("trailing\r")
    assert len(paths) == 4


def test_read_path_list_reads_in_blocks_and_takes_records_up_to_path_max() -> None:
    name = b"d/" * 30_000 + b"x.md"
    records = list(iter_path_records(io.BytesIO(b"\n" * 70_000 + name + b"\n"), False, 70_000))
    assert records == [(70_001, name)]  # a record split across blocks is joined again


@pytest.mark.parametrize("nul_separated", [False, True])
def test_an_overlong_record_is_a_usage_error_naming_it(nul_separated: bool) -> None:
    end = b"\0" if nul_separated else b"\n"
    stream = io.BytesIO(b"a.md" + end + b"b" * 5000 + end)
    with pytest.raises(UsageError, match="record 2 is longer than PATH_MAX \\(4096 bytes\\)"):
        list(iter_path_records(stream, nul_separated, 4096))


class EndlessZeros(io.RawIOBase):
    """/dev/zero as a stream that fails the test if read far beyond what is needed."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        assert self.budget > 0, "read far past the record limit"
        size = min(len(buffer), self.budget)
        buffer[:size] = bytes(size)
        self.budget -= size
        return size


def test_an_endless_record_stops_after_path_max_bytes() -> None:
    with pytest.raises(UsageError, match="record 1 is longer than PATH_MAX"):
        read_path_list(io.BufferedReader(EndlessZeros(1 << 20)), nul_separated=False)


def test_too_many_records_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(path_lists, "MAX_PATH_RECORDS", 1000)
    with pytest.raises(UsageError, match="more than 1,000 records"):
        read_path_list(io.BufferedReader(EndlessZeros(1 << 20)), nul_separated=True)


def test_a_missing_listed_path_fails_at_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path, "a.md")
    (tmp_path / "gone.md").symlink_to("nowhere.md")  # a broken link is named, reported later
    missing = "record 3: no such file or directory: b\\\\x1b.md"
    with pytest.raises(InputNotFoundError, match=missing):
        read_path_list(io.BytesIO(b"a.md\ngone.md\nb\x1b.md\n"), nul_separated=False)


def test_discover_below_takes_what_the_walk_takes_at_each_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make(root, "a.md", "keep/b.md", "keep/deep/c.txt", "keep/deep/skip.txt", "drop/d.md")
    make(root, ".hidden/e.md", "keep/.f.md", "node_modules/g.md", "other/h.rst", "other/i.md")
    (root / ".gitignore").write_text("drop/\n*.rst\n")
    (root / "keep" / "deep" / ".ragignore").write_text("skip.txt\n")
    (root / "link").symlink_to(root / "keep" / "deep")
    options = DiscoveryOptions(exclude=("other/i.md",))
    walked = {str(f.given) for f in discover([root], options, [])}
    assert len(walked) == 3  # c.txt once: through keep/deep, not again through the link
    candidates = [p for p in root.rglob("*") if p.name != "link"]
    for path in [*candidates, root, root / "gone.md", root / "keep" / "gone"]:
        below = {str(f.given) for f in discover_below(root, [path], options, [])}
        expected = {g for g in walked if g == str(path) or g.startswith(f"{path}{os.sep}")}
        assert below == expected, path
    through_link = list(discover_below(root, [root / "link"], options, []))
    assert [f.path for f in through_link] == [root / "keep" / "deep" / "c.txt"]


def test_discover_below_reads_ignore_files_above_the_path(tmp_path: Path) -> None:
    make(tmp_path, "docs/x/y/z.md", "docs/x/y/w.md")
    (tmp_path / "docs" / ".ragignore").write_text("z.md\n")
    skipped: list[Skipped] = []
    found = list(
        discover_below(tmp_path, [tmp_path / "docs" / "x" / "y"], DiscoveryOptions(), skipped)
    )
    assert names(found, tmp_path) == ["docs/x/y/w.md"]
    assert (
        list(discover_below(tmp_path, [tmp_path / "docs/x/y/z.md"], DiscoveryOptions(), [])) == []
    )
