"""ragcli.text.streams: incremental decoding, line ends and blocks, in bounded memory."""

from __future__ import annotations

import io
import random
import tracemalloc
from pathlib import Path

import pytest

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.loaders import LoadLimits, load_document, read_source
from ragcli.text.streams import (
    READ_BYTES,
    decoded_text,
    normalise_newlines,
    split_into_blocks,
)


def decode(data: bytes) -> str:
    return "".join(decoded_text(io.BytesIO(data)))


def text_pages(path: Path, block_chars: int = 1_000_000) -> list[Page]:
    return list(load_document(read_source(path), "text", LoadLimits(block_chars)).pages)


def assert_blocks_cover(blocks: list[Page], text: str) -> None:
    """Blocks concatenate to the text, and each knows its first line and character."""
    assert "".join(b.text for b in blocks) == text
    line, char = 1, 0
    for block in blocks:
        assert (block.number, block.first_line, block.first_char) == (None, line, char)
        line += block.text.count("\n")
        char += len(block.text)


def test_utf16_with_bom_is_not_taken_for_binary() -> None:
    assert decode("naïve café\r\n".encode("utf-16")) == "naïve café\n"


def test_invalid_utf8_after_the_sniffed_head_becomes_replacement_characters() -> None:
    data = "é".encode() + b"a" * READ_BYTES + b"caf\xe9"
    assert decode(data).endswith("caf\ufffd")


def test_utf8_character_split_between_reads_decodes_whole() -> None:
    data = b"a" * (READ_BYTES - 1) + "€ok".encode()
    assert decode(data)[-3:] == "€ok"


def test_nul_bytes_beyond_the_first_8_kib_do_not_make_text_binary() -> None:
    assert decode(b"a" * 9000 + b"\x00b").endswith("b")


def test_binary_head_raises_load_error() -> None:
    with pytest.raises(LoadError, match="looks binary"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


@pytest.mark.parametrize(
    ("pieces", "text"),
    [
        (["a\r", "\nb"], "a\nb"),
        (["a\r", "", "\nb"], "a\nb"),
        (["a\r", "\n", "\nb"], "a\n\nb"),
        (["a\r", "\r", "\nb"], "a\n\nb"),
        (["a\r\n\r", "b\r"], "a\n\nb\n"),
    ],
)
def test_crlf_split_between_pieces_is_one_line_end(pieces: list[str], text: str) -> None:
    assert "".join(normalise_newlines(pieces)) == text


def test_crlf_across_a_read_boundary_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"x" * (READ_BYTES - 1) + b"\r\nnext line\r\n")

    text = "".join(p.text for p in text_pages(path))

    assert text == "x" * (READ_BYTES - 1) + "\nnext line\n"


def test_blocks_end_at_a_blank_line_near_the_limit() -> None:
    paragraph = "word " * 15 + "\n" + "word " * 15 + "\n\n"
    text = paragraph * 20
    blocks = list(split_into_blocks([text], 500))

    assert_blocks_cover(blocks, text)
    assert all(b.text.endswith("\n\n") for b in blocks[:-1])
    assert all(400 <= len(b.text) <= 500 for b in blocks[:-1])


def test_blocks_end_at_a_line_end_when_no_blank_line_is_near() -> None:
    text = "".join(f"line {n}\n" for n in range(2000))
    blocks = list(split_into_blocks([text], 1000))

    assert_blocks_cover(blocks, text)
    assert len(blocks) > 10
    assert all(b.text.endswith("\n") for b in blocks)


def test_blocks_of_random_pieces_cover_the_text() -> None:
    rng = random.Random(7)
    text = "".join(rng.choice(["a", "b ", "\n", "\n\n", "  \n", "word "]) for _ in range(50_000))
    cuts = sorted(rng.sample(range(len(text)), 300))
    pieces = [text[s:e] for s, e in zip([0, *cuts], [*cuts, len(text)], strict=True)]

    for block_chars in (1, 7, 100, 4096):
        blocks = list(split_into_blocks(pieces, block_chars))
        assert_blocks_cover(blocks, text)
        assert all(len(b.text) <= block_chars for b in blocks)


def test_three_megabyte_line_is_cut_at_spaces(tmp_path: Path) -> None:
    words = " ".join(f"w{n}" for n in range(400_000))
    text = "short first line\n" + words + "\nlast\n"
    assert len(words) > 3_000_000
    path = tmp_path / "long-line.txt"
    path.write_text(text)

    blocks = text_pages(path)

    assert_blocks_cover(blocks, text)
    assert len(blocks) >= 4
    assert all(len(b.text) <= 1_000_000 for b in blocks)
    assert all(b.text.endswith((" ", "\n")) for b in blocks)


def test_line_without_whitespace_is_hard_cut(tmp_path: Path) -> None:
    text = "x" * 3_000_001
    path = tmp_path / "one-word.txt"
    path.write_text(text)

    blocks = text_pages(path)

    assert_blocks_cover(blocks, text)
    assert [len(b.text) for b in blocks] == [1_000_000, 1_000_000, 1_000_000, 1]


def test_big_file_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    line = "A line of text about vector search, repeated to make a big file.\n"
    lines_per_write = 10_000
    with path.open("w") as stream:
        for _ in range(45):
            stream.write(line * lines_per_write)
    size = path.stat().st_size
    assert size > 29_000_000

    tracemalloc.start()
    try:
        chars = lines = 0
        for page in load_document(read_source(path), "text").pages:
            chars += len(page.text)
            lines += page.text.count("\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (chars, lines) == (size, 45 * lines_per_write)
    assert peak < 20_000_000
