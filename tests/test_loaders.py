"""ragcli.text.loaders: file kinds, fingerprints, decoding, HTML text and real PDFs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from ragcli.errors import LoadError
from ragcli.records import Document
from ragcli.text.loaders import html_to_text, kind_of, load_document, read_source

MakePdf = Callable[..., bytes]

PAGES = [
    "Alpha page talks about exact search.",
    "Beta page talks about HNSW graphs.",
    "Gamma page talks about recall.",
]


def load(path: Path, kind: str | None = None) -> Document:
    """Load a file the way ingest does: read, fingerprint, then extract by kind."""
    source, data = read_source(path)
    return load_document(source, data, kind or kind_of(path) or "text")


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
    ],
)
def test_kind_of_supported_extensions(name: str, kind: str) -> None:
    assert kind_of(Path(name)) == kind


@pytest.mark.parametrize(
    "name", ["report.docx", "script.py", "Makefile", "archive.tar.gz", "data.csv", ".md", "pdf"]
)
def test_kind_of_unsupported_is_none(name: str) -> None:
    assert kind_of(Path(name)) is None


def test_read_source_fingerprints_content(tmp_path: Path) -> None:
    data = "Some text with ünïcode.\n".encode() * 100
    path = tmp_path / "a.txt"
    path.write_bytes(data)

    source, read = read_source(path)

    assert read == data
    assert source.path == str(path)
    assert source.size == len(data)
    assert source.sha256 == hashlib.sha256(data).hexdigest()
    assert source.mtime == path.stat().st_mtime


def test_read_source_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one")
    first, _ = read_source(path)
    path.write_text("two")
    second, _ = read_source(path)

    assert first.sha256 != second.sha256


def test_read_source_missing_file_raises_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError):
        read_source(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"plain ascii\n", "plain ascii\n"),
        (b"\xef\xbb\xbfcaf\xc3\xa9 with BOM", "café with BOM"),
        (b"caf\xe9", "café"),
        (b"\x93quoted\x94 \x80 5", "\u201cquoted\u201d \u20ac 5"),
        (b"windows\r\nline\r\nends\r\n", "windows\nline\nends\n"),
        (b"old\rmac\r", "old\nmac\n"),
    ],
    ids=["ascii", "utf8-bom", "cp1252-e-acute", "cp1252-quotes-euro", "crlf", "cr"],
)
def test_text_is_decoded(tmp_path: Path, data: bytes, text: str) -> None:
    path = tmp_path / "file.txt"
    path.write_bytes(data)

    document = load(path)

    assert document.kind == "text"
    assert [(p.number, p.text) for p in document.pages] == [(None, text)]


@pytest.mark.parametrize("name", ["binary.txt", "binary.md", "binary.html"])
def test_nul_bytes_raise_load_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"looks like text\x00\x01\x02 but is not")

    with pytest.raises(LoadError):
        load(path)


def test_html_drops_scripts_and_styles_and_marks_headings() -> None:
    html = (
        "<html><head><title>Manual</title>\n"
        "<style>p { color: red; }</style>\n"
        '<script>var secret = "hidden";</script></head>\n'
        "<body><h2>Search</h2>\n"
        "<p>Visible text.</p><noscript>Enable scripts</noscript>\n"
        "</body></html>\n"
    )
    text = html_to_text(html)
    lines = text.split("\n")

    assert "Visible text." in lines
    assert "## Search" in lines
    assert "Manual" in lines
    for hidden in ("color", "secret", "hidden", "Enable scripts", "<p>"):
        assert hidden not in text


def test_html_lines_follow_source_lines() -> None:
    html = (
        "<!doctype html>\n"  # 1
        "<html><head><title>Title</title></head>\n"  # 2
        "<body>\n"  # 3
        "<h1>Top</h1>\n"  # 4
        "<p>First paragraph.</p>\n"  # 5
        "\n"  # 6
        "<p>Second paragraph.</p>\n"  # 7
        "<script>\nlet a = 1;\nlet b = 2;\n</script>\n"  # 8-11
        "<h2>Below</h2>\n"  # 12
        "<p>Third paragraph.</p>\n"  # 13
        "</body></html>\n"
    )
    lines = html_to_text(html).split("\n")

    assert lines[2 - 1] == "Title"
    assert lines[4 - 1] == "# Top"
    assert lines[5 - 1] == "First paragraph."
    assert lines[7 - 1] == "Second paragraph."
    assert lines[12 - 1] == "## Below"
    assert lines[13 - 1] == "Third paragraph."


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Hello <b>world</b>", "Hello world"),
        ("<p>Hello <a href='#x'>big</a> world</p>", "Hello big world"),
        ("<p>un<b>break</b>able</p>", "unbreakable"),
        ("<p>Tom &amp; Jerry &lt;3</p>", "Tom & Jerry <3"),
    ],
)
def test_html_inline_tags_keep_words_apart(html: str, expected: str) -> None:
    assert html_to_text(html).strip() == expected


@pytest.mark.parametrize(
    "html",
    [
        "<p><i>Hello</i> <b>world</b></p>",
        "<p>Hello\n<b>world</b></p>",
        "<p><b>Hello</b>\nworld</p>",
        "<p>Hello&nbsp;<b>world</b></p>",
    ],
    ids=["space-between-tags", "newline-before-tag", "newline-after-tag", "nbsp-before-tag"],
)
def test_html_whitespace_between_inline_tags_keeps_words_apart(html: str) -> None:
    # Whitespace, newlines and no-break spaces beside inline tags keep words apart.
    assert html_to_text(html).split() == ["Hello", "world"]


def test_html_file_loads_through_load_document(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<h2>Caf\xc3\xa9</h2>\n<p>Menu.</p>\n")

    document = load(path)

    assert document.kind == "html"
    assert document.pages[0].text.split("\n")[:2] == ["## Café", "Menu."]


def test_three_page_pdf_loads_page_by_page(tmp_path: Path, make_pdf: MakePdf) -> None:
    path = tmp_path / "three.pdf"
    path.write_bytes(make_pdf(PAGES))

    document = load(path)

    assert document.kind == "pdf"
    assert [p.number for p in document.pages] == [1, 2, 3]
    assert [p.text.strip() for p in document.pages] == PAGES
    assert document.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def _corrupt_pdfs(make_pdf: MakePdf) -> dict[str, bytes]:
    whole = make_pdf(PAGES)
    return {
        "first-200-bytes": whole[:200],
        "first-half": whole[: len(whole) // 2],
        "random-bytes": random.Random(0).randbytes(4096),
        "empty": b"",
        "html-named-pdf": b"<html><body>not a pdf</body></html>",
    }


@pytest.mark.parametrize(
    "name", ["first-200-bytes", "first-half", "random-bytes", "empty", "html-named-pdf"]
)
def test_corrupt_pdf_raises_load_error(tmp_path: Path, make_pdf: MakePdf, name: str) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(_corrupt_pdfs(make_pdf)[name])

    with pytest.raises(LoadError):
        load(path)


def test_pdf_with_user_password_raises_load_error(tmp_path: Path, make_pdf: MakePdf) -> None:
    path = tmp_path / "locked.pdf"
    path.write_bytes(make_pdf(PAGES, owner_password="owner", user_password="secret"))

    with pytest.raises(LoadError, match="password"):
        load(path)


@pytest.mark.parametrize("user_password", ["", None])
def test_pdf_encrypted_without_user_password_loads(
    tmp_path: Path, make_pdf: MakePdf, user_password: str | None
) -> None:
    path = tmp_path / "owner-only.pdf"
    path.write_bytes(make_pdf(PAGES, owner_password="owner", user_password=user_password))
    assert b"/Encrypt" in path.read_bytes()

    document = load(path)

    assert [p.number for p in document.pages] == [1, 2, 3]
    assert [p.text.strip() for p in document.pages] == PAGES
