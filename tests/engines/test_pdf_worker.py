"""ragcli.text.pdf_worker: images decoded for OCR within bounded memory, through `rag`."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from ragcli.errors import ExitCode
from ragcli.text.loaders import LoadLimits, load_document, read_source
from ragcli.text.ocr import OcrOptions
from tests.engines.test_ocr import FAKE_EMBEDDER, ROOT, text_image

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="needs `make ocr`")

# Runs a command and reports its exit, output and the largest resident set of it and of
# every process it waited for (the PDF reader process, Tesseract): ru_maxrss of children.
_MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps([done.returncode, done.stdout, done.stderr, peak_kb / 1024]))
"""


def rag_measured(*args: str) -> tuple[int, str, str, float]:
    """Run `python -m ragcli ARGS`; return its exit code, stdout, stderr and peak RSS in MB."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=660,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    code, out, err, peak_mb = json.loads(done.stdout)
    return code, out, err, peak_mb


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))


def transparent_png(path: Path, side: int, text: Image.Image | None = None) -> Path:
    """A side x side RGBA PNG, transparent black, with `text` (black on white) drawn opaque.

    Written a row at a time, so a picture of gigabytes costs the test a few MB.
    """
    band: list[bytes] = []
    if text is not None:
        black = Image.new("L", text.size, 0)
        opaque = Image.merge("RGBA", (black, black, black, ImageOps.invert(text))).tobytes()
        row = 4 * text.width
        band = [opaque[y * row : (y + 1) * row] for y in range(text.height)]
    blank = bytes(4 * side)
    packer = zlib.compressobj(1)
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(_chunk(b"IHDR", struct.pack("!IIBBBBB", side, side, 8, 6, 0, 0, 0)))
        for y in range(side):
            pixels = band[y - 100] + blank[len(band[0]) :] if 100 <= y < 100 + len(band) else blank
            if data := packer.compress(b"\x00" + pixels):  # filter type 0: the bytes as they are
                out.write(_chunk(b"IDAT", data))
        out.write(_chunk(b"IDAT", packer.flush()) + _chunk(b"IEND", b""))
    return path


def test_a_png_too_large_to_decode_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    # 13,000 x 13,000 RGBA: 676 MB decoded, past Pillow's decompression bomb warning.
    png = transparent_png(tmp_path / "huge.png", 13_000)
    code, out, err, peak_mb = rag_measured(
        "ingest", str(png), "--store", str(tmp_path / "store"), *FAKE_EMBEDDER, "--json"
    )
    assert code == ExitCode.FILES_SKIPPED, err
    (skipped,) = json.loads(out)["skipped"]
    assert skipped["reason"] == (
        "13,000 x 13,000 pixels (RGBA) would take 1,289 MB to decode, more than the 512 MB "
        "an image may"
    )
    assert err.count(skipped["reason"]) == 1
    assert "Warning" not in err and "Traceback" not in err
    assert peak_mb < 400, f"peak RSS {peak_mb:.0f} MB"


def test_a_large_transparent_png_is_scaled_down_and_read_in_bounded_memory(
    tmp_path: Path,
) -> None:
    # 7,000 x 7,000 RGBA (49 million pixels): decoded, flattened to gray on white and
    # scaled to 25 million pixels without a second full-size copy in color.
    png = transparent_png(tmp_path / "poster.png", 7_000, text_image("Wombats dig burrows."))
    store = str(tmp_path / "store")
    code, out, err, peak_mb = rag_measured(
        "ingest", str(png), "--store", store, *FAKE_EMBEDDER, "--json", "--ocr-languages", "eng"
    )
    assert code == 0, err
    assert json.loads(out)["added"] == 1 and "Warning" not in err
    found = subprocess.run(
        [sys.executable, "-m", "ragcli", "search", "wombats", "--store", store, "--mode",
         "keyword", "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "burrows" in json.loads(found.stdout.splitlines()[0])["text"]
    assert peak_mb < 700, f"peak RSS {peak_mb:.0f} MB"


def test_a_jpeg_past_pillows_bomb_limit_is_decoded_small_and_read(tmp_path: Path) -> None:
    # 90 million pixels: over Pillow's 89.5 million, whose warning would be a raw line on
    # stderr; a JPEG is decoded at half its size (draft), under the 25 million OCR reads.
    page = Image.new("L", (9_500, 9_500), "white")
    page.paste(text_image("Pangolins curl up tight.").resize((6_000, 1_200)), (200, 200))
    page.save(tmp_path / "scan.jpg", quality=80)
    del page
    store = str(tmp_path / "store")
    code, out, err, peak_mb = rag_measured(
        "ingest", str(tmp_path / "scan.jpg"), "--store", store, *FAKE_EMBEDDER, "--json",
        "--ocr-languages", "eng",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["added"] == 1
    assert "Warning" not in err and "Traceback" not in err
    found = subprocess.run(
        [sys.executable, "-m", "ragcli", "search", "pangolins", "--store", store, "--mode",
         "keyword"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert found.returncode == 0 and "curl" in found.stdout, found.stderr


def test_a_frame_is_turned_upright_and_a_palette_one_put_on_white(tmp_path: Path) -> None:
    # Turned after it is scaled down: the EXIF orientation is read from the file first.
    exif = Image.Exif()
    exif[0x0112] = 6  # stored a quarter turn anticlockwise; shown turned clockwise
    sideways = text_image("Tortoises live for a century.").rotate(90, expand=True)
    sideways.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    # Black text on transparent black: palette entry 0, transparent, is black too.
    ink = ImageOps.invert(text_image("Beavers build dams of sticks."))
    palette = ink.point(lambda v: 1 if v > 128 else 0).convert("P")
    palette.putpalette([0, 0, 0] * 2)
    palette.save(tmp_path / "clear.png", transparency=0)
    limits = LoadLimits(ocr=OcrOptions(languages="eng", max_pages=500, file_timeout_s=3600.0))
    for name, words in (("phone.jpg", "Tortoises live"), ("clear.png", "Beavers build")):
        (page,) = load_document(read_source(tmp_path / name), "image", limits).pages
        assert words in page.text, name
