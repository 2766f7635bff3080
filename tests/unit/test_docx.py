"""ragcli.text.docx: Word files built by the test, read as paragraphs, headings and rows."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ragcli.errors import LoadError
from ragcli.records import DEFAULT_CHUNKING, Page
from ragcli.text.chunking import ChunkBudget, split_into_chunks
from ragcli.text.docx import MAX_DOCUMENT_XML_BYTES
from ragcli.text.loaders import LoadLimits, load_document, read_source

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)

DEFAULT_LIMITS = LoadLimits()


def paragraph(text: str, style: str = "") -> str:
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f'<w:p>{props}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def table(rows: list[list[str]]) -> str:
    cells = ("".join(f"<w:tc>{paragraph(cell)}</w:tc>" for cell in row) for row in rows)
    return "<w:tbl>" + "".join(f"<w:tr>{row}</w:tr>" for row in cells) + "</w:tbl>"


def write_docx(path: Path, body: str, styles: str | None = None) -> Path:
    """Write a minimal .docx: content types, the document body and optionally styles."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr(
            "word/document.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}">'
            f"<w:body>{body}<w:sectPr/></w:body></w:document>",
        )
        if styles is not None:
            archive.writestr("word/styles.xml", f'<w:styles xmlns:w="{W_NS}">{styles}</w:styles>')
    return path


def pages(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> list[Page]:
    return list(load_document(read_source(path), "docx", limits).pages)


def text_of(path: Path) -> str:
    return "".join(p.text for p in pages(path))


def test_docx_headings_paragraphs_and_table(tmp_path: Path) -> None:
    body = (
        paragraph("Annual report", "Title")
        + paragraph("Sales", "Heading1")
        + '<w:p><w:r><w:t xml:space="preserve">Sales grew </w:t></w:r>'
        + "<w:r><w:tab/><w:t>fast.</w:t></w:r></w:p>"
        + paragraph("")
        + table([["Region", "Revenue"], ["North", "12"], ["", ""]])
        + paragraph("By quarter", "Heading2")
        + paragraph("Q1 was best.")
    )
    path = write_docx(tmp_path / "report.docx", body)

    assert text_of(path) == (
        "# Annual report\n\n## Sales\n\nSales grew \tfast.\n\n"
        "Region | Revenue\nNorth | 12\n\n### By quarter\n\nQ1 was best.\n\n"
    )


def test_docx_headings_give_chunks_their_heading_path(tmp_path: Path) -> None:
    body = paragraph("Manual", "Title") + paragraph("Search", "Heading1") + paragraph("Text.")
    path = write_docx(tmp_path / "manual.docx", body)
    document = load_document(read_source(path), "docx")
    budget = ChunkBudget(DEFAULT_CHUNKING, 256, lambda texts: [len(t.split()) for t in texts])

    chunks = split_into_chunks(document, budget)

    assert [(c.heading, c.text) for c in chunks] == [("Manual > Search", "Text.")]


def test_docx_heading_styles_are_found_by_name(tmp_path: Path) -> None:
    # Word in German names the style id "berschrift1"; its name stays "heading 1".
    styles = (
        '<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/>'
        '</w:style><w:style w:type="paragraph" w:styleId="Titel"><w:name w:val="Title"/>'
        "</w:style>"
    )
    body = paragraph("Handbuch", "Titel") + paragraph("Suche", "berschrift1")
    path = write_docx(tmp_path / "handbuch.docx", body, styles)

    assert text_of(path) == "# Handbuch\n\n## Suche\n\n"


def test_docx_tab_stops_in_paragraph_properties_are_not_text(tmp_path: Path) -> None:
    body = (
        '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
        "<w:r><w:t>One</w:t><w:br/><w:t>Two</w:t></w:r></w:p>"
    )
    path = write_docx(tmp_path / "tabs.docx", body)

    assert text_of(path) == "One\nTwo\n\n"


def test_long_docx_is_read_in_blocks(tmp_path: Path) -> None:
    body = "".join(paragraph(f"Paragraph number {n} of a long document.") for n in range(3000))
    path = write_docx(tmp_path / "long.docx", body)

    loaded = pages(path, LoadLimits(block_chars=10_000))

    assert len(loaded) > 10
    assert "".join(p.text for p in loaded).count("Paragraph number") == 3000


@pytest.mark.parametrize("damage", ["not-a-zip", "truncated", "no-document-xml", "broken-xml"])
def test_damaged_docx_raises_load_error(tmp_path: Path, damage: str) -> None:
    path = write_docx(tmp_path / "report.docx", paragraph("Some text") * 50)
    if damage == "not-a-zip":
        path.write_bytes(b"This is not a zip file at all.")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:150])
    elif damage == "no-document-xml":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("[Content_Types].xml", CONTENT_TYPES)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("word/document.xml", "<w:document><w:body><w:p>")

    with pytest.raises(LoadError, match="^not a readable DOCX") as caught:
        pages(path)
    assert "\n" not in caught.value.message


def test_docx_without_text_raises_load_error(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "blank.docx", paragraph("") + paragraph("   "))

    with pytest.raises(LoadError, match="^no text in the document$"):
        pages(path)


def write_members(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def document_xml(body: bytes) -> bytes:
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'
    return head.encode() + body + b"</w:body></w:document>"


def test_docx_body_past_the_size_limit_is_skipped_unread(tmp_path: Path) -> None:
    many = paragraph("Same words again.").encode() * (MAX_DOCUMENT_XML_BYTES // 50)
    path = write_members(tmp_path / "bomb.docx", {"word/document.xml": document_xml(many)})

    with pytest.raises(LoadError, match=r"^word/document.xml expands past 64 MB$"):
        pages(path)


def test_docx_body_compressed_past_the_ratio_is_skipped(tmp_path: Path) -> None:
    # 3 MB that deflate squeezes about 1000:1: under the size limit, over the ratio.
    many = paragraph("Same words again.").encode() * ((3 << 20) // 50)
    path = write_members(tmp_path / "bomb.docx", {"word/document.xml": document_xml(many)})

    with pytest.raises(LoadError, match=r"^word/document.xml is compressed more than 200:1"):
        pages(path)


def test_docx_huge_styles_are_skipped_when_needed(tmp_path: Path) -> None:
    style = b'<w:style w:styleId="S"><w:name w:val="heading 1"/></w:style>'
    styles = f'<w:styles xmlns:w="{W_NS}">'.encode() + style * ((17 << 20) // 60) + b"</w:styles>"
    body = document_xml(paragraph("Text", "Custom").encode())
    path = write_members(
        tmp_path / "bomb.docx", {"word/document.xml": body, "word/styles.xml": styles}
    )

    with pytest.raises(LoadError, match=r"^word/styles.xml expands past 16 MB$"):
        pages(path)


def test_docx_styles_are_not_read_when_the_body_uses_only_known_styles(tmp_path: Path) -> None:
    body = document_xml((paragraph("Search", "Heading1") + paragraph("Text.")).encode())
    path = write_members(
        tmp_path / "plain.docx", {"word/document.xml": body, "word/styles.xml": b"<not-xml"}
    )

    assert text_of(path) == "## Search\n\nText.\n\n"


@pytest.mark.parametrize(
    "members",
    [
        {"word/document.xml": b"\xff\xfe\x00garbage"},
        {"word/document.xml": document_xml(b"<w:p>" * 100_000)},
        {
            "word/document.xml": b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;'
            b'&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'
            b'">]><d>&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;</d>'
        },
        {
            "word/document.xml": document_xml(paragraph("x", "Custom").encode()),
            "word/styles.xml": b"\x00\x01",
        },
    ],
    ids=["binary-body", "unclosed-nesting", "entities", "binary-styles"],
)
def test_nasty_docx_gives_text_or_one_line_load_error(
    tmp_path: Path, members: dict[str, bytes]
) -> None:
    path = write_members(tmp_path / "nasty.docx", members)

    try:
        pages(path)
    except LoadError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("member", ["word/document.xml", "word/styles.xml"])
@pytest.mark.parametrize("encoding", ["UYF-8", "rot13"])
def test_docx_xml_declaring_an_unknown_encoding_raises_load_error(
    tmp_path: Path, member: str, encoding: str
) -> None:
    # "UTF-8" with one byte flipped was an internal error (LookupError), exit 1.
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>'.encode()
    members = {
        "word/document.xml": document_xml(paragraph("x", "Custom").encode()),
        "word/styles.xml": f'<w:styles xmlns:w="{W_NS}"/>'.encode(),
    }
    members[member] = declaration + members[member].split(b"?>", 1)[-1]
    path = write_members(tmp_path / "declared.docx", members)

    with pytest.raises(LoadError, match=rf"^not a readable DOCX \(LookupError: .*{encoding}"):
        pages(path)


def test_docx_runs_are_read_as_they_end_and_text_boxes_are_not_repeated(tmp_path: Path) -> None:
    # Runs are dropped as soon as their text is taken, so a huge paragraph is never whole
    # in memory; a text box's paragraph is its own, no longer repeated in the one around it.
    body = (
        "<w:p><w:r><w:t>Outer</w:t></w:r><w:r><w:drawing><w:txbxContent>"
        + paragraph("Inner")
        + '</w:txbxContent></w:drawing></w:r><w:r><w:t xml:space="preserve"> end</w:t></w:r>'
        "</w:p><w:tbl><w:tr><w:tc><w:p><w:hyperlink><w:r><w:t>link</w:t></w:r></w:hyperlink>"
        "<w:proofErr/><w:r><w:t>cell</w:t></w:r></w:p></w:tc><w:tc>"
        + paragraph("b")
        + "</w:tc></w:tr></w:tbl>"
        + "<w:p>"
        + "<w:r><w:t>x</w:t></w:r>" * 10_000
        + "</w:p>"
    )
    path = write_docx(tmp_path / "boxes.docx", body)

    assert text_of(path) == "Inner\n\nOuter end\n\nlinkcell | b\n\n" + "x" * 10_000 + "\n\n"
