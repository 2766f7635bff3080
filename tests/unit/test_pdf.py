"""ragcli.text.pdf: real PDFs page by page; damaged, locked, scanned and slow pages."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from pathlib import Path

import fpdf
import pytest

from ragcli.errors import LoadError
from ragcli.records import Document, Page
from ragcli.text.loaders import LoadLimits, load_document, read_source

MakePdf = Callable[..., bytes]

PAGES = [
    "Alpha page talks about exact search.",
    "Beta page talks about HNSW graphs.",
    "Gamma page talks about recall.",
]

DEFAULT_LIMITS = LoadLimits()


def load(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> Document:
    return load_document(read_source(path), "pdf", limits)


def pages(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> list[Page]:
    return list(load(path, limits).pages)


def text_page(text: str) -> tuple[bytes, bytes]:
    return b"BT /F1 12 Tf 72 700 Td (" + text.encode() + b") Tj ET", b""


def raw_pdf(contents: list[tuple[bytes, bytes]]) -> bytes:
    """Return a PDF with one page per (content stream, extra stream dictionary entries)."""
    count = len(contents)
    kids = " ".join(f"{4 + 2 * n} 0 R" for n in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for n, (content, extra) in enumerate(contents):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * n)
        )
        objects.append(
            b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(content), extra, content)
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_three_page_pdf_loads_page_by_page(tmp_path: Path, make_pdf: MakePdf) -> None:
    path = tmp_path / "three.pdf"
    path.write_bytes(make_pdf(PAGES))

    document = load(path)
    loaded = list(document.pages)

    assert document.kind == "pdf"
    assert [p.number for p in loaded] == [1, 2, 3]
    assert [p.text.strip() for p in loaded] == PAGES
    assert document.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_hand_written_pdf_loads(tmp_path: Path) -> None:
    path = tmp_path / "raw.pdf"
    path.write_bytes(raw_pdf([text_page("Alpha"), text_page("Beta")]))

    assert [(p.number, p.text) for p in pages(path)] == [(1, "Alpha"), (2, "Beta")]


def _corrupt_pdfs(make_pdf: MakePdf) -> dict[str, bytes]:
    whole = make_pdf(PAGES)
    return {
        "first-200-bytes": whole[:200],
        "first-half": whole[: len(whole) // 2],
        "random-bytes": random.Random(0).randbytes(4096),
        "html-named-pdf": b"<html><body>not a pdf</body></html>",
        "header-only": b"%PDF-1.4\n%%EOF\n",
    }


@pytest.mark.parametrize(
    "name", ["first-200-bytes", "first-half", "random-bytes", "html-named-pdf", "header-only"]
)
def test_corrupt_pdf_raises_load_error(tmp_path: Path, make_pdf: MakePdf, name: str) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(_corrupt_pdfs(make_pdf)[name])

    with pytest.raises(LoadError, match="^not a readable PDF|^no page could be read") as caught:
        pages(path)
    assert "\n" not in caught.value.message
    assert str(tmp_path) not in caught.value.message


def test_pdf_with_user_password_raises_load_error(tmp_path: Path, make_pdf: MakePdf) -> None:
    path = tmp_path / "locked.pdf"
    path.write_bytes(make_pdf(PAGES, owner_password="owner", user_password="secret"))

    with pytest.raises(LoadError, match="^encrypted PDF that needs a password$"):
        pages(path)


@pytest.mark.parametrize("user_password", ["", None])
def test_pdf_encrypted_without_user_password_loads(
    tmp_path: Path, make_pdf: MakePdf, user_password: str | None
) -> None:
    path = tmp_path / "owner-only.pdf"
    path.write_bytes(make_pdf(PAGES, owner_password="owner", user_password=user_password))
    assert b"/Encrypt" in path.read_bytes()

    loaded = pages(path)

    assert [p.number for p in loaded] == [1, 2, 3]
    assert [p.text.strip() for p in loaded] == PAGES


def test_pdf_without_text_layer_needs_ocr(tmp_path: Path) -> None:
    pdf = fpdf.FPDF(format="A4")
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")
    path = tmp_path / "scan.pdf"
    path.write_bytes(bytes(pdf.output()))

    with pytest.raises(LoadError, match="^no text layer .*OCR"):
        pages(path)


def test_pdf_blank_pages_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "gap.pdf"
    path.write_bytes(raw_pdf([text_page("Alpha"), (b"", b""), text_page("Gamma")]))

    assert [(p.number, p.text) for p in pages(path)] == [(1, "Alpha"), (3, "Gamma")]


@pytest.mark.parametrize(
    "broken",
    [(b"abc", b"/Filter /Bogus"), (b"BT /F1 12 Tf (unclosed Tj ET", b"")],
    ids=["unknown-filter", "unclosed-string"],
)
def test_pdf_page_that_raises_is_skipped(tmp_path: Path, broken: tuple[bytes, bytes]) -> None:
    path = tmp_path / "one-bad-page.pdf"
    path.write_bytes(raw_pdf([text_page("Alpha"), broken, text_page("Gamma")]))

    assert [(p.number, p.text) for p in pages(path)] == [(1, "Alpha"), (3, "Gamma")]


def test_pdf_where_every_page_fails_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "all-bad.pdf"
    path.write_bytes(raw_pdf([(b"abc", b"/Filter /Bogus")] * 2))

    with pytest.raises(LoadError, match=r"^no page could be read \(page 1: .*Bogus"):
        pages(path)


def test_pdf_page_slower_than_the_timeout_is_skipped(tmp_path: Path) -> None:
    # Half a million text operators take pypdf seconds to parse; the bound cuts it short.
    slow = (b"BT /F1 12 Tf " + b"(x) Tj " * 500_000 + b"ET", b"")
    path = tmp_path / "slow.pdf"
    path.write_bytes(raw_pdf([text_page("Alpha"), slow, text_page("Gamma")]))

    loaded = pages(path, LoadLimits(pdf_page_timeout_s=0.2))

    assert [(p.number, p.text) for p in loaded] == [(1, "Alpha"), (3, "Gamma")]


def test_pdf_page_timeout_holds_outside_the_main_thread(tmp_path: Path) -> None:
    # A signal-based bound only worked in the main thread; a killed worker works anywhere.
    slow = (b"BT /F1 12 Tf " + b"(x) Tj " * 500_000 + b"ET", b"")
    path = tmp_path / "slow.pdf"
    path.write_bytes(raw_pdf([slow, text_page("Gamma")]))
    results: list[list[Page]] = []

    worker = threading.Thread(
        target=lambda: results.append(pages(path, LoadLimits(pdf_page_timeout_s=0.2)))
    )
    worker.start()
    worker.join(timeout=60)

    assert [(p.number, p.text) for p in results[0]] == [(2, "Gamma")]


def test_pdf_reader_process_killed_between_files_is_replaced(tmp_path: Path) -> None:
    from ragcli.text import pdf_worker_pool

    path = tmp_path / "three.pdf"
    path.write_bytes(raw_pdf([text_page(text) for text in PAGES]))
    assert len(pages(path)) == 3
    for worker in list(pdf_worker_pool._IDLE):
        worker.process.kill()
        worker.process.wait()

    assert [p.text for p in pages(path)] == PAGES


def test_pdf_reader_process_ignores_a_ragcli_folder_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragcli.text import pdf_worker_pool

    decoy = tmp_path / "cwd" / "ragcli"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the wrong ragcli')\n")
    path = tmp_path / "three.pdf"
    path.write_bytes(raw_pdf([text_page(text) for text in PAGES]))
    while pdf_worker_pool._IDLE:
        pdf_worker_pool._IDLE.pop().stop()
    monkeypatch.chdir(decoy.parent)

    assert [p.text for p in pages(path)] == PAGES
