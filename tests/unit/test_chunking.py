"""ragcli.text.chunking: budgets, coverage, positions, boundaries, overlap and headings."""

from __future__ import annotations

import base64
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

from ragcli.embedding.base import Embedder
from ragcli.embedding.factory import make_embedder
from ragcli.records import DEFAULT_CHUNKING, Chunk, ChunkingSettings, Document, Page, SourceFile
from ragcli.text.chunking import ChunkBudget, split_into_chunks
from ragcli.text.loaders import html_to_text, load_document, read_source

MakePdf = Callable[..., bytes]

FAKE = "fake:64"
MINILM = "all-MiniLM-L6-v2"
SPECS = [FAKE, MINILM]
SETTINGS = [DEFAULT_CHUNKING, ChunkingSettings(60, 16), ChunkingSettings(40, 10)]

_WORDS = [
    "vector",
    "index",
    "search",
    "query",
    "embedding",
    "chunk",
    "store",
    "model",
    "token",
    "page",
    "section",
    "recall",
    "graph",
    "layer",
    "neighbour",
    "distance",
    "cosine",
    "answer",
    "source",
    "question",
    "file",
]


@cache
def embedder(spec: str) -> Embedder:
    """One embedder per spec for the whole module (MiniLM only loads its tokenizer)."""
    return make_embedder(spec)


def budget(spec: str, settings: ChunkingSettings | None = None) -> ChunkBudget:
    model = embedder(spec)
    return ChunkBudget(settings or DEFAULT_CHUNKING, model.max_text_tokens, model.count_tokens)


def document(text: str, kind: str = "text", pages: Sequence[Page] | None = None) -> Document:
    source = SourceFile("docs/sample", len(text), 0.0, "0" * 64)
    return Document(source, kind, tuple(pages) if pages else (Page(None, text),))


def prose(seed: int, paragraphs: int, sentences: tuple[int, int] = (1, 7)) -> str:
    """Paragraphs of short capitalised sentences; some lines wrapped inside a paragraph."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(paragraphs):
        parts = []
        for _ in range(rng.randint(*sentences)):
            words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 14))]
            joined = "".join(w + rng.choice([" "] * 9 + ["\n"]) for w in words).strip()
            parts.append(joined.capitalize() + rng.choice(".!?"))
        blocks.append("".join(p + rng.choice([" ", " ", "\n"]) for p in parts).strip())
    return "\n\n".join(blocks)


def tokens(spec: str, texts: Sequence[str]) -> list[int]:
    return embedder(spec).count_tokens(list(texts))


def assert_within_budget(
    spec: str, chunks: Sequence[Chunk], settings: ChunkingSettings, sentence_cut: bool = False
) -> None:
    limit = embedder(spec).max_text_tokens
    for chunk, count in zip(chunks, tokens(spec, [c.embed_text for c in chunks]), strict=True):
        assert count <= limit, f"{count} > {limit} tokens in {chunk.embed_text[:80]!r}"
    if not sentence_cut:
        for chunk, count in zip(chunks, tokens(spec, [c.text for c in chunks]), strict=True):
            assert count <= settings.chunk_tokens, f"{count} tokens in {chunk.text[:80]!r}"


def assert_positions(text: str, chunks: Sequence[Chunk]) -> None:
    """Chunk text is the slice it claims, and its 1-based line numbers are right."""
    for chunk in chunks:
        assert chunk.text == text[chunk.start_char : chunk.end_char]
        assert chunk.start_line == text.count("\n", 0, chunk.start_char) + 1
        assert chunk.end_line == text.count("\n", 0, chunk.end_char - 1) + 1


def assert_covers(text: str, chunks: Sequence[Chunk]) -> None:
    """Every non-whitespace character of text lies inside at least one chunk."""
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.start_char : chunk.end_char] = b"\x01" * (chunk.end_char - chunk.start_char)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"{len(missing)} characters uncovered, first at {missing[0]}"


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s.chunk_tokens}-{s.overlap_tokens}")
@pytest.mark.parametrize("spec", SPECS)
def test_prose_chunks_fit_cover_and_locate(spec: str, settings: ChunkingSettings) -> None:
    text = prose(seed=7, paragraphs=30)
    chunks = split_into_chunks(document(text), budget(spec, settings))

    assert len(chunks) > 1
    assert_within_budget(spec, chunks, settings)
    assert_positions(text, chunks)
    assert_covers(text, chunks)
    assert all(c.page is None and c.heading == "" and c.path == "docs/sample" for c in chunks)
    assert [c.start_char for c in chunks] == sorted(c.start_char for c in chunks)


@pytest.mark.parametrize("spec", SPECS)
def test_chunks_start_and_end_on_sentence_boundaries(spec: str) -> None:
    text = prose(seed=11, paragraphs=25)
    chunks = split_into_chunks(document(text), budget(spec, ChunkingSettings(50, 12)))

    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text[0].isupper(), f"chunk starts mid-sentence: {chunk.text[:40]!r}"
        assert chunk.text[-1] in ".!?", f"chunk ends mid-sentence: {chunk.text[-40:]!r}"


def test_short_paragraphs_are_not_split_across_chunks() -> None:
    paragraphs = [f"Paragraph {n} has one sentence. It has a second one too." for n in range(12)]
    text = "\n\n".join(paragraphs)
    chunks = split_into_chunks(document(text), budget(FAKE, ChunkingSettings(40, 10)))

    assert len(chunks) > 1
    for paragraph in paragraphs:
        assert any(paragraph in c.text for c in chunks), f"{paragraph!r} was split"


@pytest.mark.parametrize("spec", SPECS)
def test_overlap_within_a_paragraph_is_bounded(spec: str) -> None:
    settings = ChunkingSettings(chunk_tokens=40, overlap_tokens=10)
    text = prose(seed=3, paragraphs=1, sentences=(60, 60)).replace("\n", " ")
    chunks = split_into_chunks(document(text), budget(spec, settings))

    overlaps = 0
    for before, after in pairwise(chunks):
        assert after.start_char > before.start_char
        if after.start_char < before.end_char:
            overlaps += 1
            shared = text[after.start_char : before.end_char]
            assert tokens(spec, [shared])[0] <= settings.overlap_tokens, shared
    assert overlaps > 0, "no consecutive chunks share any sentence"


def test_overlap_of_zero_gives_disjoint_chunks() -> None:
    text = prose(seed=5, paragraphs=1, sentences=(40, 40))
    chunks = split_into_chunks(document(text), budget(FAKE, ChunkingSettings(30, 0)))

    assert len(chunks) > 2
    for before, after in pairwise(chunks):
        assert after.start_char >= before.end_char


def test_line_numbers_of_known_text() -> None:
    text = "First line here.\nSecond line here.\n\n\nFifth line starts. And goes on.\n"
    chunks = split_into_chunks(document(text), budget(FAKE, ChunkingSettings(8, 0)))

    assert [(c.text, c.start_line, c.end_line) for c in chunks] == [
        ("First line here.\nSecond line here.", 1, 2),
        ("Fifth line starts. And goes on.", 5, 5),
    ]


def test_markdown_heading_path_is_carried() -> None:
    text = (
        "# Guide\n\nIntro sentence.\n\n## Install\n\nRun the installer.\n\n"
        "### Linux\n\nUse the package manager.\n\n## Usage ##\n\nAsk a question.\n"
    )
    chunks = split_into_chunks(document(text, "markdown"), budget(FAKE))

    assert [(c.heading, c.text) for c in chunks] == [
        ("Guide", "Intro sentence."),
        ("Guide > Install", "Run the installer."),
        ("Guide > Install > Linux", "Use the package manager."),
        ("Guide > Usage", "Ask a question."),
    ]
    assert chunks[1].embed_text == "Guide > Install\nRun the installer."
    assert_positions(text, chunks)
    assert chunks[2].start_line == 11


@pytest.mark.parametrize("fence", ["```", "~~~"])
def test_markdown_headings_inside_code_fences_are_ignored(fence: str) -> None:
    text = (
        f"# Setup\n\nInstall it like this.\n\n{fence}bash\n# install the tool\npip install x\n"
        f"{fence}\n\nThen run it.\n\n## Next\n\nMore text.\n"
    )
    chunks = split_into_chunks(document(text, "markdown"), budget(FAKE))

    by_heading = {c.heading: c.text for c in chunks}
    assert set(by_heading) == {"Setup", "Setup > Next"}
    assert "# install the tool" in by_heading["Setup"]
    assert "Then run it." in by_heading["Setup"]


def test_plain_text_hash_lines_are_not_headings() -> None:
    text = "# not a heading in a text file\n\nSome text.\n"
    chunks = split_into_chunks(document(text, "text"), budget(FAKE))

    assert [c.heading for c in chunks] == [""]
    assert chunks[0].text.startswith("# not a heading")


def test_html_headings_become_heading_path() -> None:
    html = "<h1>Manual</h1>\n<p>Welcome text.</p>\n<h2>Search</h2>\n<p>How search works.</p>\n"
    chunks = split_into_chunks(document(html_to_text(html), "html"), budget(FAKE))

    assert [(c.heading, c.text) for c in chunks] == [
        ("Manual", "Welcome text."),
        ("Manual > Search", "How search works."),
    ]


def test_rst_underlined_headings_give_heading_path() -> None:
    text = (
        "Guide\n=====\n\nIntro text.\n\nInstall\n-------\n\nRun it.\n\n"
        "Usage\n-----\n\nAsk things.\n\nAppendix\n========\n\nExtra.\n"
    )
    chunks = split_into_chunks(document(text, "rst"), budget(FAKE))

    assert [(c.heading, c.text) for c in chunks] == [
        ("Guide", "Intro text."),
        ("Guide > Install", "Run it."),
        ("Guide > Usage", "Ask things."),
        ("Appendix", "Extra."),
    ]
    assert_positions(text, chunks)


def test_rst_overlined_title_is_its_own_level() -> None:
    text = "=========\n Manual\n=========\n\nTop text.\n\nPart\n====\n\nPart text.\n"
    chunks = split_into_chunks(document(text, "rst"), budget(FAKE))

    assert [(c.heading, c.text) for c in chunks] == [
        ("Manual", "Top text."),
        ("Manual > Part", "Part text."),
    ]


def test_rst_short_underline_and_transition_are_not_headings() -> None:
    text = "A long title line\n---\n\nBody text.\n\n----------\n\nAfter the transition.\n"
    chunks = split_into_chunks(document(text, "rst"), budget(FAKE))

    assert {c.heading for c in chunks} == {""}
    assert_covers(text, chunks)


def _giant_inputs() -> dict[str, tuple[str, bool]]:
    """name -> (text, whether it must be cut into several chunks by every tokenizer)."""
    blob = base64.b64encode(random.Random(2).randbytes(6000)).decode()
    words = random.Random(4)
    run_on = " ".join(words.choice(_WORDS) for _ in range(3000))
    return {
        "5000-a": ("a" * 5000, False),
        "base64": (blob, False),
        "run-on": (run_on, True),
        "cjk": ("向量检索" * 1000, False),
        "word-in-prose": ("Short start. " + "x" * 5000 + " short end.", False),
    }


@pytest.mark.parametrize("name", list(_giant_inputs()))
@pytest.mark.parametrize("spec", SPECS)
def test_giant_words_and_sentences_are_cut_to_fit(spec: str, name: str) -> None:
    text, must_cut = _giant_inputs()[name]
    settings = DEFAULT_CHUNKING
    chunks = split_into_chunks(document(text), budget(spec, settings))

    assert chunks
    assert_within_budget(spec, chunks, settings, sentence_cut=True)
    assert_positions(text, chunks)
    assert_covers(text, chunks)
    if must_cut or sum(tokens(spec, [text])) > embedder(spec).max_text_tokens:
        assert len(chunks) > 1


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("text", ["", "   ", "\n\n\t \n"])
def test_empty_or_blank_text_gives_no_chunks(spec: str, text: str) -> None:
    assert split_into_chunks(document(text), budget(spec)) == []
    assert split_into_chunks(document(text, "markdown"), budget(spec)) == []


def test_heading_without_body_gives_no_chunk() -> None:
    chunks = split_into_chunks(document("# Only a title\n", "markdown"), budget(FAKE))
    assert chunks == []


def test_pages_keep_their_numbers_and_own_line_counts() -> None:
    pages = [Page(n, prose(seed=n, paragraphs=4)) for n in (1, 2, 3)]
    chunks = split_into_chunks(document("", "pdf", pages), budget(FAKE, ChunkingSettings(40, 10)))

    assert {c.page for c in chunks} == {1, 2, 3}
    assert [c.page or 0 for c in chunks] == sorted(c.page or 0 for c in chunks)
    for page in pages:
        on_page = [c for c in chunks if c.page == page.number]
        assert on_page[0].start_line == 1
        assert_positions(page.text, on_page)
        assert_covers(page.text, on_page)


def test_real_pdf_pages_keep_their_numbers(tmp_path: Path, make_pdf: MakePdf) -> None:
    texts = [
        "Exact search compares the query with every vector.",
        "HNSW builds a layered graph of neighbours.",
        "Recall is measured against exact search.",
    ]
    path = tmp_path / "three.pdf"
    path.write_bytes(make_pdf(texts))
    loaded = load_document(read_source(path), "pdf")

    chunks = split_into_chunks(loaded, budget(FAKE))

    assert [(c.page, c.text) for c in chunks] == [(n, t) for n, t in enumerate(texts, start=1)]
    assert all(c.path == str(path) for c in chunks)


def test_long_heading_path_still_fits_the_embedder() -> None:
    # A heading path nearly as long as the embedder limit is shortened, not overflowed.
    title = " ".join(["overview"] * 62)
    section = " ".join(["details"] * 62)
    text = f"# {title}\n\n## {section}\n\n" + prose(seed=9, paragraphs=3)
    chunks = split_into_chunks(document(text, "markdown"), budget(FAKE))

    assert chunks
    assert_within_budget(FAKE, chunks, DEFAULT_CHUNKING, sentence_cut=True)


@pytest.mark.parametrize("spec", SPECS)
def test_giant_word_amid_words_stays_out_of_their_chunks(spec: str) -> None:
    # Words on either side of a giant word stay in order, in budget and where they are.
    text = "alpha beta " + "x" * 3000 + " gamma delta"
    settings = ChunkingSettings(60, 0)
    chunks = split_into_chunks(document(text), budget(spec, settings))

    assert_within_budget(spec, chunks, settings)
    assert_positions(text, chunks)
    assert_covers(text, chunks)
    assert [c.start_char for c in chunks] == sorted(c.start_char for c in chunks)


@pytest.mark.parametrize("spec", SPECS)
def test_one_enormous_line_of_short_words_cites_line_one(spec: str) -> None:
    words = random.Random(5)
    text = " ".join(words.choice(_WORDS) for _ in range(40_000))
    settings = DEFAULT_CHUNKING
    chunks = split_into_chunks(document(text), budget(spec, settings))

    assert len(chunks) > 100
    assert {(c.start_line, c.end_line) for c in chunks} == {(1, 1)}
    assert_within_budget(spec, chunks, settings, sentence_cut=True)
    assert_positions(text, chunks)
    assert_covers(text, chunks)


_QUADRATIC_HEADING = """
from ragcli.records import Document, Page, SourceFile
from ragcli.records import DEFAULT_CHUNKING
from ragcli.text.chunking import ChunkBudget, split_into_chunks

text = "# a" + " #" * 200_000 + "b\\n\\nBody text.\\n" + "# Title # #\\n\\nMore text.\\n"
document = Document(SourceFile("x.md", len(text), 0.0, ""), "markdown", [Page(None, text)])
count = lambda texts: [len(t.split()) for t in texts]
chunks = split_into_chunks(document, ChunkBudget(DEFAULT_CHUNKING, 256, count))
print(chunks[-1].heading)
"""


def test_heading_line_full_of_hashes_is_read_in_linear_time() -> None:
    # The old heading pattern backtracked over the line's " #" run at every position.
    done = subprocess.run(
        [sys.executable, "-c", _QUADRATIC_HEADING], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "Title\n"


_TINY_PARAGRAPHS = """
from ragcli.records import Document, Page, SourceFile
from ragcli.records import DEFAULT_CHUNKING
from ragcli.text.chunking import ChunkBudget, split_into_chunks

text = "x.\\n\\n" * 100_000
document = Document(SourceFile("x.txt", len(text), 0.0, ""), "text", [Page(None, text)])
count = lambda texts: [len(t.split()) for t in texts]
chunks = split_into_chunks(document, ChunkBudget(DEFAULT_CHUNKING, 256, count))
print(len(chunks), chunks[-1].end_line)
"""


def test_a_hundred_thousand_tiny_paragraphs_are_packed_in_linear_time() -> None:
    # Each paragraph's token total used to be summed over a copy of every later piece.
    done = subprocess.run(
        [sys.executable, "-c", _TINY_PARAGRAPHS], capture_output=True, text=True, timeout=90
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "500 199999\n"
