"""ragcli.text.loaders: kinds, fingerprints, lazy loading and files that change underfoot."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ragcli.errors import LoadError
from ragcli.records import Document, Page
from ragcli.text.loaders import LoadLimits, kind_of, load_document, read_source

MakePdf = Callable[..., bytes]

DEFAULT_LIMITS = LoadLimits()


def load(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> Document:
    """Load a file the way ingest does: fingerprint, then extract by kind."""
    return load_document(read_source(path), kind_of(path) or "text", limits)


def pages(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> list[Page]:
    return list(load(path, limits).pages)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("notes.txt", "text"),
        ("notes.text", "text"),
        ("README.md", "markdown"),
        ("guide.markdown", "markdown"),
        ("manual.rst", "rst"),
        ("page.html", "html"),
        ("page.htm", "html"),
        ("paper.pdf", "pdf"),
        ("PAPER.PDF", "pdf"),
        ("Notes.Md", "markdown"),
        ("dir.v2/index.HTML", "html"),
        ("report.docx", "docx"),
        ("data.csv", "csv"),
        ("data.TSV", "csv"),
        ("events.jsonl", "text"),
        ("config.json", "text"),
        ("server.log", "text"),
        ("script.py", "code"),
        ("main.rs", "code"),
        ("analysis.R", "code"),
        ("settings.yaml", "code"),
        ("pyproject.toml", "code"),
        ("scan.png", "image"),
        ("photo.JPG", "image"),
        ("photo.jpeg", "image"),
        ("fax.tif", "image"),
        ("fax.tiff", "image"),
    ],
)
def test_kind_of_supported_extensions(name: str, kind: str) -> None:
    assert kind_of(Path(name)) == kind


@pytest.mark.parametrize(
    "name", ["report.doc", "Makefile", "archive.tar.gz", "image.gif", ".md", "pdf", "x.xlsx"]
)
def test_kind_of_unsupported_is_none(name: str) -> None:
    assert kind_of(Path(name)) is None


def test_unknown_kind_is_a_programming_error(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("text")
    with pytest.raises(ValueError, match="unknown document kind"):
        load_document(read_source(path), "spreadsheet")


def test_read_source_fingerprints_content(tmp_path: Path) -> None:
    # Three read blocks and a bit: the hash is streamed, not taken over the file at once.
    data = "Some text with ünïcode.\n".encode() * 150_000
    path = tmp_path / "a.txt"
    path.write_bytes(data)

    source = read_source(path)

    assert source.path == str(path)
    assert source.size == len(data)
    assert source.sha256 == hashlib.sha256(data).hexdigest()
    assert source.mtime == path.stat().st_mtime


def test_read_source_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one")
    first = read_source(path)
    path.write_text("two")

    assert read_source(path).sha256 != first.sha256


def test_read_source_missing_file_raises_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="^cannot read: no such file or directory$") as caught:
        read_source(tmp_path / "missing.txt")
    assert str(tmp_path) not in caught.value.message


def test_read_source_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="not a regular file"):
        read_source(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_read_source_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    with pytest.raises(LoadError, match="not a regular file"):
        read_source(path)


def test_pages_are_read_lazily(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("text")
    source = read_source(path)
    path.unlink()

    document = load_document(source, "text")  # no error yet: nothing is read

    with pytest.raises(LoadError, match="^vanished while being read$"):
        list(document.pages)


def test_file_appended_to_after_fingerprint_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("first version\n")
    source = read_source(path)
    with path.open("a") as stream:
        stream.write("appended later\n")

    with pytest.raises(LoadError, match="^changed while being read; ingest it again$"):
        list(load_document(source, "text").pages)


def test_same_size_same_mtime_edit_is_caught_by_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("version one\n")
    source = read_source(path)
    stat = path.stat()
    path.write_text("version two\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    with pytest.raises(LoadError, match="changed while being read"):
        list(load_document(source, "text").pages)


@pytest.mark.parametrize("change", ["append", "replace", "delete"])
def test_file_changed_while_pages_are_read_raises_load_error(tmp_path: Path, change: str) -> None:
    path = tmp_path / "big.txt"
    path.write_text("a line of text\n" * 10_000)
    source = read_source(path)
    pages = iter(load_document(source, "text", LoadLimits(block_chars=1000)).pages)
    next(pages)

    if change == "append":
        with path.open("a") as stream:
            stream.write("more\n")
    elif change == "replace":
        (tmp_path / "new.txt").write_text("other text\n")
        os.replace(tmp_path / "new.txt", path)
    else:
        path.unlink()

    message = "vanished while being read" if change == "delete" else "changed while being read"
    with pytest.raises(LoadError, match=message):
        list(pages)


@pytest.mark.parametrize(
    "name",
    ["empty.txt", "empty.md", "empty.html", "empty.pdf", "empty.docx", "empty.csv", "empty.py"],
)
def test_empty_file_raises_load_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")

    with pytest.raises(LoadError, match="^empty file$"):
        pages(path)


@pytest.mark.parametrize("name", ["blank.txt", "blank.md", "blank.html", "blank.csv"])
def test_whitespace_only_file_raises_load_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"  \r\n\n\t \n")

    with pytest.raises(LoadError, match="^empty file$"):
        pages(path)


@pytest.mark.parametrize("name", ["binary.txt", "binary.md", "binary.html", "binary.csv"])
def test_nul_bytes_raise_load_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"looks like text\x00\x01\x02 but is not")

    with pytest.raises(LoadError, match="looks binary"):
        pages(path)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"plain ascii\n", "plain ascii\n"),
        (b"\xef\xbb\xbfcaf\xc3\xa9 with BOM", "café with BOM"),
        ("café naïve €5".encode("cp1252"), "café naïve €5"),
        (b"\x93quoted\x94 \x80 5", "\u201cquoted\u201d \u20ac 5"),
        (b"windows\r\nline\r\nends\r\n", "windows\nline\nends\n"),
        (b"old\rmac\r", "old\nmac\n"),
    ],
    ids=["ascii", "utf8-bom", "cp1252-latin", "cp1252-quotes-euro", "crlf", "cr"],
)
def test_text_is_decoded(tmp_path: Path, data: bytes, text: str) -> None:
    path = tmp_path / "file.txt"
    path.write_bytes(data)

    document = load(path)

    assert document.kind == "text"
    assert [(p.number, p.text, p.first_line, p.first_char) for p in document.pages] == [
        (None, text, 1, 0)
    ]


def test_each_format_loads_through_load_document(tmp_path: Path, make_pdf: MakePdf) -> None:
    files = {
        "a.md": b"# Title\n\nBody.\n",
        "a.py": b"def f():\n    return 1\n",
        "a.html": b"<h2>Caf\xc3\xa9</h2>\n<p>Menu.</p>\n",
        "a.csv": b"name,age\nBob,3\n",
        "a.pdf": make_pdf(["Alpha page."]),
    }
    expected = {
        "a.md": "# Title\n\nBody.\n",
        "a.py": "def f():\n    return 1\n",
        "a.html": "## Café\nMenu.\n",
        "a.csv": "\nname: Bob; age: 3\n",
        "a.pdf": "Alpha page.",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert "".join(p.text for p in pages(tmp_path / name)).strip() == expected[name].strip()


def test_pdf_is_time_bounded_only_in_the_main_thread(tmp_path: Path, make_pdf: MakePdf) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(make_pdf(["Alpha page."]))
    found: list[list[Page]] = []
    worker = threading.Thread(target=lambda: found.append(pages(path)))
    worker.start()
    worker.join()

    assert [p.text.strip() for p in found[0]] == ["Alpha page."]


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": "' + b"\xff\xfe\x80" * 100_000 + b'"}',
        b"\xff\xfe" + b"{\x00" * 1001,  # UTF-16 with an odd byte at the end
        b"\r" * 100_000,
        b"[" * 200_000 + b"]" * 100,
        b"{}" + b"\x00" * 10,
    ],
    ids=["invalid-utf8", "odd-utf16", "bare-cr", "deep-nesting", "nul"],
)
def test_nasty_json_gives_text_or_one_line_load_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "nasty.json"
    path.write_bytes(data)

    try:
        pages(path)
    except LoadError as exc:
        assert "\n" not in str(exc)


# Out of descriptors, then asked to read a file: not the file's fault, so not a skip.
READ_WITHOUT_DESCRIPTORS = """
import os, resource, sys
from pathlib import Path
from ragcli.errors import LoadError, SystemLimitError
from ragcli.text.loaders import read_source
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
try:
    read_source(Path(sys.argv[1]))
except SystemLimitError as exc:
    print(int(exc.exit_code), exc)
except LoadError as exc:
    print("skipped", exc)
"""


def test_running_out_of_descriptors_stops_the_run_instead_of_skipping_files(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    note = tmp_path / "note.md"
    note.write_text("# Note\n\nText.\n")
    done = subprocess.run(
        [sys.executable, "-c", READ_WITHOUT_DESCRIPTORS, str(note)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.startswith("11 "), done.stdout + done.stderr
    assert "too many open files" in done.stdout and str(note) in done.stdout
