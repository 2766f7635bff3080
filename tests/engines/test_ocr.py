"""OCR of scanned PDFs and images: real Tesseract on images drawn here, through `rag`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import fpdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from ragcli.errors import ExitCode, LoadError
from ragcli.output import format_hit, format_sources
from ragcli.records import Chunk, Hit, Passage
from ragcli.text.loaders import LoadLimits, load_document, read_source
from ragcli.text.ocr import NEARLY_EMPTY_CHARS, OcrOptions, nearly_empty
from tests.conftest import build_pdf
from tests.engines.test_watch import Watch

ROOT = Path(__file__).resolve().parents[2]
FAKE_EMBEDDER = ["--embed-model", "fake:64"]
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs `make ocr`")

# A text layer long enough (>= NEARLY_EMPTY_CHARS) that its page is not OCR'd.
LAYER = "Armadillos roll into armoured balls when they are frightened."


def rag(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m ragcli ARGS` in a fresh process; PATH replaced when given."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


def text_image(*lines: str, frame: int = 0) -> Image.Image:
    """A white page at 300 dpi with lines of black text, as a scanner would give it."""
    size = 64
    font = (
        ImageFont.truetype(str(DEJAVU), size)
        if DEJAVU.is_file()
        else ImageFont.load_default(size)  # Pillow's own scalable font
    )
    image = Image.new("L", (2000, 200 + 120 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((120, 100 + 120 * row), line, font=font, fill="black")
    return image


def write_docs(folder: Path) -> None:
    folder.mkdir()
    text_image("The quokka naps beneath", "tall eucalyptus trees.").save(
        folder / "scan.pdf", "PDF", resolution=300
    )
    text_image("Invoice for walrus grooming", "services rendered.").save(folder / "receipt.png")
    text_image("Narwhal tusks spiral leftward.").save(
        folder / "fax.tiff",
        save_all=True,
        append_images=[text_image("Pelicans scoop fish with", "their pouches.")],
    )
    text_image("El loro canta una canción", "sobre el camión azul.").save(folder / "nota.png")
    zebras, capybaras = folder.parent / "zebras.png", folder.parent / "capybaras.png"
    text_image("Zebras graze on the savanna grassland together.").save(zebras)
    text_image("Capybaras bathe in warm rivers.").save(capybaras)
    mixed = fpdf.FPDF(format="A4")
    mixed.set_font("Helvetica", size=11)
    mixed.add_page()  # a long text layer beside an image of text: not OCR'd
    mixed.multi_cell(0, 6, LAYER, new_x="LMARGIN", new_y="NEXT")
    mixed.image(str(zebras), x=10, y=60, w=190)
    mixed.add_page()  # only a page number for a text layer: OCR'd
    mixed.multi_cell(0, 6, "Page 2", new_x="LMARGIN", new_y="NEXT")
    mixed.image(str(capybaras), x=10, y=60, w=190)
    (folder / "mixed.pdf").write_bytes(bytes(mixed.output()))


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ocr") / "docs"
    write_docs(folder)
    return folder


@pytest.fixture(scope="module")
def store(docs: Path) -> str:
    path = str(docs.parent / "store")
    done = rag("ingest", str(docs), "--store", path, *FAKE_EMBEDDER, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["added"] == 5 and report["skipped"] == []
    return path


def search(store: str, query: str) -> list[dict[str, object]]:
    done = rag("search", query, "--store", store, "--mode", "keyword", "--json")
    assert done.returncode in (0, ExitCode.NOT_FOUND), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_scanned_pdf_page_is_found_and_marked_ocr(store: str) -> None:
    hits = search(store, "quokka")
    assert [(Path(str(h["path"])).name, h["page"], h["ocr"]) for h in hits] == [
        ("scan.pdf", 1, True)
    ]
    assert "eucalyptus" in str(hits[0]["text"])
    shown = rag("search", "eucalyptus", "--store", store, "--mode", "keyword")
    assert shown.returncode == 0
    assert "scan.pdf:" in shown.stdout and "[page 1, OCR] " in shown.stdout


def test_png_and_each_tiff_frame_are_read(store: str) -> None:
    (png,) = search(store, "walrus grooming")
    assert Path(str(png["path"])).name == "receipt.png"
    assert png["page"] is None and png["ocr"] is True
    (second,) = search(store, "pelicans")
    assert Path(str(second["path"])).name == "fax.tiff"
    assert second["page"] == 2 and second["ocr"] is True
    assert search(store, "narwhal")[0]["page"] == 1


def test_a_spanish_word_with_an_accent_is_found(docs: Path, store: str, tmp_path: Path) -> None:
    (hit,) = search(store, "canción")  # eng+spa: found, the accent read or not
    assert Path(str(hit["path"])).name == "nota.png"
    # With Spanish as the main language, the accents are read as written.
    spanish = str(tmp_path / "store")
    done = rag("ingest", str(docs / "nota.png"), "--store", spanish, *FAKE_EMBEDDER,
               "--ocr-languages", "spa+eng")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (hit,) = search(spanish, "canción")
    assert "canción" in str(hit["text"]) and "camión" in str(hit["text"])


def test_a_page_with_a_text_layer_is_not_ocrd_and_a_nearly_empty_one_is(store: str) -> None:
    (layer,) = search(store, "armadillos")
    assert (layer["page"], layer["ocr"]) == (1, False)
    # Its picture's words would be there had the page been OCR'd (they outnumber the layer's).
    assert search(store, "zebras") == []
    (scanned,) = search(store, "capybaras")
    assert (Path(str(scanned["path"])).name, scanned["page"], scanned["ocr"]) == (
        "mixed.pdf",
        2,
        True,
    )


def test_ask_sources_say_ocr(store: str) -> None:
    done = rag(
        "ask", "Where does the quokka nap?", "--store", store, "--mode", "keyword",
        "--context-only", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sources = json.loads(done.stdout)["sources"]
    assert sources and all(source["ocr"] is True for source in sources)


def test_an_unchanged_file_is_not_read_again(docs: Path, store: str, tmp_path: Path) -> None:
    # Without tesseract on PATH, any OCR attempt would be a skip with a reason.
    done = rag("ingest", str(docs), "--store", store, *FAKE_EMBEDDER, "--json", path=str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["unchanged"], report["added"], report["changed"]) == (5, 0, 0)
    assert report["skipped"] == []


def test_without_tesseract_each_file_is_skipped_naming_the_package(
    docs: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    done = rag("ingest", str(docs), "--store", store, *FAKE_EMBEDDER, "--json", path=str(tmp_path))
    assert done.returncode == ExitCode.FILES_SKIPPED
    skipped = {Path(s["path"]).name: s for s in json.loads(done.stdout)["skipped"]}
    assert set(skipped) == {"scan.pdf", "receipt.png", "fax.tiff", "nota.png"}
    assert all(s["failed"] for s in skipped.values())
    assert skipped["scan.pdf"]["reason"] == (
        "no text layer (scanned PDF?): needs OCR: tesseract is not installed "
        "(apt install tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa)"
    )
    assert "image needs OCR: tesseract is not installed" in skipped["receipt.png"]["reason"]
    lines = [line for line in done.stderr.splitlines() if "tesseract-ocr" in line]
    assert len(lines) == 4 and "Traceback" not in done.stderr
    # The PDF's text layer page is kept; its nearly empty page keeps its page number.
    kept = rag("search", "armadillos", "--store", store, "--mode", "keyword").stdout
    assert "mixed.pdf:1: [page 1] Armadillos" in kept


def test_no_ocr_passes_images_over_and_says_why_a_scan_is_skipped(
    docs: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    done = rag("ingest", str(docs), "--store", store, *FAKE_EMBEDDER, "--no-ocr", "--json")
    assert done.returncode == ExitCode.FILES_SKIPPED
    skipped = {Path(s["path"]).name: s for s in json.loads(done.stdout)["skipped"]}
    assert skipped["scan.pdf"]["failed"] is True
    assert skipped["scan.pdf"]["reason"].endswith("needs OCR, which is turned off")
    assert skipped["receipt.png"] == {
        "path": str(docs / "receipt.png"),
        "reason": "an image, and OCR is turned off",
        "failed": False,
    }
    named = rag("ingest", str(docs / "nota.png"), "--store", store, *FAKE_EMBEDDER, "--no-ocr")
    assert named.returncode == ExitCode.FILES_SKIPPED
    assert "an image needs OCR, which is turned off" in named.stderr


def test_languages_missing_from_tesseract_are_named(docs: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    done = rag(
        "ingest", str(docs / "receipt.png"), "--store", store, *FAKE_EMBEDDER,
        "--ocr-languages", "eng+zzz",
    )  # fmt: skip
    assert done.returncode == ExitCode.FILES_SKIPPED
    assert "tesseract has no 'zzz' language data (apt install tesseract-ocr-zzz)" in done.stderr
    bad = rag("ingest", str(docs), "--store", store, "--ocr-languages", "eng;rm -rf")
    assert bad.returncode == ExitCode.USAGE and "--ocr-languages must be" in bad.stderr


def test_a_page_past_its_ocr_deadline_is_skipped(docs: Path) -> None:
    limits = LoadLimits(
        ocr=OcrOptions(languages="eng", max_pages=500, file_timeout_s=3600.0, page_timeout_s=0.001)
    )
    document = load_document(read_source(docs / "scan.pdf"), "pdf", limits)
    with pytest.raises(LoadError, match=r"OCR could not read it \(page 1: took longer than"):
        list(document.pages)


def test_an_image_without_text_is_stored_with_no_chunks(tmp_path: Path) -> None:
    Image.new("RGB", (400, 300), "navy").save(tmp_path / "blue.jpg")
    limits = LoadLimits(ocr=OcrOptions(languages="eng", max_pages=500, file_timeout_s=3600.0))
    assert list(load_document(read_source(tmp_path / "blue.jpg"), "image", limits).pages) == []


def test_a_damaged_image_is_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    limits = LoadLimits(ocr=OcrOptions(languages="eng", max_pages=500, file_timeout_s=3600.0))
    document = load_document(read_source(tmp_path / "broken.png"), "image", limits)
    with pytest.raises(LoadError, match=r"^not a readable image \(not an image format"):
        list(document.pages)


def test_transparent_png_text_is_read(tmp_path: Path) -> None:
    # Black text on transparent pixels that are black underneath: read on white.
    alpha = text_image("Hedgehogs hibernate in winter.").point(lambda v: 255 - v)
    image = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
    image.putalpha(alpha)
    image.save(tmp_path / "clear.png")
    limits = LoadLimits(ocr=OcrOptions(languages="eng", max_pages=500, file_timeout_s=3600.0))
    (page,) = load_document(read_source(tmp_path / "clear.png"), "image", limits).pages
    assert "Hedgehogs hibernate" in page.text and page.ocr


def test_pdf_without_ocr_options_says_it_needs_ocr(docs: Path, tmp_path: Path) -> None:
    document = load_document(read_source(docs / "scan.pdf"), "pdf", LoadLimits())
    with pytest.raises(LoadError, match="needs OCR"):
        list(document.pages)
    (tmp_path / "plain.pdf").write_bytes(build_pdf([LAYER]))
    limits = LoadLimits(ocr=OcrOptions(languages="eng", max_pages=500, file_timeout_s=3600.0))
    (page,) = load_document(read_source(tmp_path / "plain.pdf"), "pdf", limits).pages
    assert not page.ocr and "Armadillos" in page.text


def test_nearly_empty_is_a_count_of_visible_characters() -> None:
    assert nearly_empty(" \n 7 \t")
    assert nearly_empty("x" * (NEARLY_EMPTY_CHARS - 1) + " " * 100)
    assert not nearly_empty("x" * NEARLY_EMPTY_CHARS)


def test_text_output_marks_ocr_hits_and_sources() -> None:
    chunk = Chunk(
        text="quokka", path="/d/scan.pdf", page=3, start_line=1, end_line=1, start_char=0,
        end_char=6,
    )  # fmt: skip
    scanned = Chunk(**{**chunk.__dict__, "ocr": True})
    assert "[page 3] quokka" in format_hit(Hit(chunk, 1.0), "quokka")
    assert "[page 3, OCR] quokka" in format_hit(Hit(scanned, 1.0), "quokka")
    image = Chunk(**{**scanned.__dict__, "page": None})
    assert ":1: [OCR] quokka" in format_hit(Hit(image, 1.0), "quokka")
    passage = Passage(1, "/d/scan.pdf", 3, 1, 1, "", "quokka", (Hit(scanned, 1.0),))
    assert "[1] /d/scan.pdf, page 3 (OCR), line 1" in format_sources((passage,), frozenset())


def blank_tiff(path: Path, frames: int) -> Path:
    """A multi-page TIFF of small blank frames: cheap to make, and to OCR one by one."""
    blank = Image.new("L", (200, 100), "white")
    blank.save(path, save_all=True, append_images=[blank] * (frames - 1))
    return path


def test_an_image_with_more_frames_than_ocr_max_pages_is_skipped_unread(tmp_path: Path) -> None:
    # Frames are counted when the file is opened: none is read, however many there are.
    fax = blank_tiff(tmp_path / "fax.tiff", 40)
    store = str(tmp_path / "store")
    started = time.monotonic()
    done = rag("ingest", str(fax), "--store", store, *FAKE_EMBEDDER, "--json",
               "--ocr-max-pages", "3")  # fmt: skip
    assert done.returncode == ExitCode.FILES_SKIPPED, done.stderr
    (skipped,) = json.loads(done.stdout)["skipped"]
    assert skipped["reason"] == (
        "40 frames need OCR, more than the 3 it reads in one file (ocr_max_pages)"
    )
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 120  # not 40 frames of Tesseract
    # As many frames as the limit are all read; the variable sets it as the flag does.
    text_image("Otters hold hands while sleeping.").save(
        tmp_path / "two.tiff", save_all=True, append_images=[text_image("Moles dig tunnels.")]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_OCR_MAX_PAGES": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "ragcli", "ingest", str(tmp_path / "two.tiff"), "--store", store,
         *FAKE_EMBEDDER, "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 1
    assert search(store, "otters")[0]["page"] == 1 and search(store, "moles")[0]["page"] == 2


def test_a_pdf_with_more_pages_to_ocr_than_the_limit_is_skipped(docs: Path, tmp_path: Path) -> None:
    scans = tmp_path / "scans.pdf"
    pages = [text_image(f"Scanned page number {n}.") for n in (1, 2, 3)]
    pages[0].save(scans, "PDF", resolution=300, save_all=True, append_images=pages[1:])
    limits = LoadLimits(ocr=OcrOptions(languages="eng", file_timeout_s=3600.0, max_pages=2))
    with pytest.raises(LoadError) as raised:
        list(load_document(read_source(scans), "pdf", limits).pages)
    assert raised.value.message == (
        "more than 2 pages need OCR, the most it reads in one file (ocr_max_pages)"
    )
    # Only pages read by OCR count: a text layer page does not.
    limits = LoadLimits(ocr=OcrOptions(languages="eng", file_timeout_s=3600.0, max_pages=1))
    mixed = list(load_document(read_source(docs / "mixed.pdf"), "pdf", limits).pages)
    assert [(page.number, page.ocr) for page in mixed] == [(1, False), (2, True)]


def test_a_file_whose_ocr_takes_longer_than_its_limit_is_skipped(tmp_path: Path) -> None:
    # 30 frames at a Tesseract process each cannot all be read within one second.
    fax = blank_tiff(tmp_path / "fax.tiff", 30)
    started = time.monotonic()
    done = rag("ingest", str(fax), "--store", str(tmp_path / "store"), *FAKE_EMBEDDER,
               "--json", "--ocr-max-seconds", "1")  # fmt: skip
    assert done.returncode == ExitCode.FILES_SKIPPED, done.stderr
    (skipped,) = json.loads(done.stdout)["skipped"]
    assert skipped["reason"] == (
        "OCR took longer than 1 s, the most it may take for one file (ocr_max_seconds)"
    )
    assert time.monotonic() - started < 120
    # A page cut short by the file's limit fails the file, not just the page.
    limits = LoadLimits(ocr=OcrOptions(languages="eng", max_pages=500, file_timeout_s=0.001))
    with pytest.raises(LoadError, match=r"^OCR took longer than 0.001 s, the most"):
        list(load_document(read_source(fax), "image", limits).pages)
    bad = rag("ingest", str(fax), "--store", str(tmp_path / "store"), "--ocr-max-pages", "0")
    assert bad.returncode == ExitCode.USAGE and "--ocr-max-pages must be" in bad.stderr


def test_a_watch_reads_with_the_same_ocr_limits(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("Koalas sleep most of the day.\n")
    running = Watch(docs, tmp_path / "store", "--json", "--ocr-max-pages", "2")
    try:
        running.wait_for_line('"ingested"', stream="out")
        blank_tiff(tmp_path / "fax.tiff", 3).rename(docs / "fax.tiff")
        event = json.loads(running.wait_for_line('"type": "skipped"', stream="out"))
        assert running.stop() == 0
    finally:
        running.kill()
    assert event == {
        "type": "skipped",
        "path": str(docs / "fax.tiff"),
        "old_path": None,
        "chunks": None,
        "reason": "3 frames need OCR, more than the 2 it reads in one file (ocr_max_pages)",
    }


def test_an_image_pillow_warns_about_says_no_raw_warning(tmp_path: Path) -> None:
    # Past Pillow's decompression-bomb threshold (89,478,485 pixels) but under twice it,
    # Pillow warns instead of refusing; the reader process must keep that off the terminal.
    docs = tmp_path / "docs"
    docs.mkdir()
    Image.new("1", (9500, 9500), 1).save(docs / "huge.png")
    done = rag("ingest", str(docs), "--store", str(tmp_path / "store"), *FAKE_EMBEDDER, "-q")
    assert done.returncode in (0, ExitCode.FILES_SKIPPED), done.stderr
    assert "Warning" not in done.stderr and "warnings.warn" not in done.stderr, done.stderr
