"""ragcli.text.html: visible text, page furniture dropped, headings, lines and charsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.errors import LoadError
from ragcli.text import html as html_module
from ragcli.text.html import decode_html, html_to_text
from ragcli.text.loaders import LoadLimits, load_document, read_source

DEFAULT_LIMITS = LoadLimits()


def load_text(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> str:
    return "".join(p.text for p in load_document(read_source(path), "html", limits).pages)


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
    assert "# Manual" in lines  # no <h1>, so the title is the top heading
    for hidden in ("color", "secret", "hidden", "Enable scripts", "<p>"):
        assert hidden not in text


def test_html_drops_navigation_and_page_furniture() -> None:
    html = (
        "<body><header><a href='/'>Site name</a></header>\n"
        "<nav><a>Home</a> <a>Blog</a></nav>\n"
        "<div role='navigation'>Breadcrumbs</div><div role=banner>Banner ad</div>\n"
        "<main><article><header><h1>Article title</h1></header>\n"
        "<p>Body text.</p>\n"
        "<aside>Related posts</aside>\n"
        "<form><label>Email</label><button>Subscribe</button></form>\n"
        "<p hidden>Hidden paragraph</p><span aria-hidden='true'>icon</span>\n"
        "<div style='display: none'>Invisible</div><p>Closing text.</p>\n"
        "<footer>Article footer stays</footer></article></main>\n"
        "<div role='contentinfo'>Legal</div><footer>Copyright 2024</footer>\n"
        "<svg><title>Chart</title><text>42</text></svg>\n"
        "<template><p>Template text</p></template></body>"
    )
    text = html_to_text(html)

    assert text.split() == [
        "#",
        "Article",
        "title",
        "Body",
        "text.",
        "Closing",
        "text.",
        "Article",
        "footer",
        "stays",
    ]


def test_html_unclosed_dropped_element_ends_with_the_page() -> None:
    html = "<body><p>Kept.</p><nav><a>Home</a></body><p>After body.</p>"
    assert html_to_text(html).split() == ["Kept.", "After", "body."]


def test_html_hidden_paragraph_ends_where_the_next_one_starts() -> None:
    assert html_to_text("<p hidden>secret<p>visible").split() == ["visible"]


def test_html_title_stays_plain_text_when_the_page_has_an_h1() -> None:
    lines = html_to_text("<title>Page</title>\n<h1>Heading</h1>\n").split("\n")
    assert lines[:2] == ["Page", "# Heading"]


def test_html_table_cells_are_kept_apart() -> None:
    html = "<table><tr><th>Name</th> <th>Age</th></tr><tr><td>Bob</td><td>3</td></tr></table>"
    assert html_to_text(html).strip().split("\n") == ["Name | Age", "Bob | 3"]


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


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"<meta charset='iso-8859-1'><p>caf\xe9 \x80</p>", "café €"),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">\xf0\xd2', "Пр"),
        (b"<meta charset=utf-16><p>caf\xc3\xa9</p>", "café"),
        (b"<meta charset=no-such-charset><p>caf\xc3\xa9</p>", "café"),
        (b"<meta charset=base64><p>caf\xc3\xa9</p>", "café"),
        (b"<p>caf\xe9 \x93quoted\x94</p>", "café \u201cquoted\u201d"),
        (b"\xef\xbb\xbf<meta charset=cp1252><p>caf\xc3\xa9</p>", "café"),
    ],
    ids=[
        "latin1-label",
        "koi8-r",
        "utf16-label",
        "unknown-label",
        "base64-label",
        "undeclared-cp1252",
        "bom-wins",
    ],
)
def test_html_bytes_are_decoded_by_declared_charset(data: bytes, text: str) -> None:
    assert html_to_text(decode_html(data)).strip() == text


def test_html_file_loads_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<h1>Guide</h1>\n" + "<p>Some paragraph text here.</p>\n" * 300)

    pages = list(load_document(read_source(path), "html", LoadLimits(block_chars=1000)).pages)

    assert len(pages) > 5
    assert pages[0].text.startswith("# Guide\nSome paragraph")
    assert pages[1].first_line == pages[0].text.count("\n") + 1


def test_html_without_visible_text_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<html><head><script>app()</script></head><body><nav>Menu</nav></body>")

    with pytest.raises(LoadError, match="^no visible text$"):
        load_text(path)


def test_html_too_large_raises_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_module, "MAX_HTML_BYTES", 1000)
    path = tmp_path / "page.html"
    path.write_text("<p>" + "word " * 300 + "</p>")

    with pytest.raises(LoadError, match="^HTML file too large$"):
        load_text(path)


@pytest.mark.parametrize(
    "data",
    [
        b'<meta charset="idna"><p>caf\xe9</p>',
        b'<meta charset="undefined"><p>text</p>',
        b'<meta charset="punycode"><p>caf\xe9</p>',
        b"<!--" * 20_000 + b"<p>after</p>",
        b"<a " * 20_000,
        b"<p>&#99999999999; &#x110000; &#0; &bogus;</p>",
        b"<![CDATA[" * 5_000,
        b"</" * 20_000,
    ],
    ids=["idna", "undefined", "punycode", "comments", "open-tags", "charrefs", "cdata", "ends"],
)
def test_nasty_html_gives_text_or_one_line_load_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "nasty.html"
    path.write_bytes(data)

    try:
        load_text(path)
    except LoadError as exc:
        assert "\n" not in str(exc)
