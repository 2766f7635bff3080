"""Free text to FTS5 queries: every question is safe, identifiers stay whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.records import Chunk, SourceFile
from ragcli.retrieval.keywords import fts_query, query_terms
from ragcli.store import Store


def test_function_words_and_punctuation_go_and_words_are_lower_cased() -> None:
    assert query_terms("How many parameters does Grok-0 have?") == ["many", "parameters", "grok-0"]


def test_identifiers_numbers_and_non_ascii_words_stay_whole() -> None:
    terms = query_terms("ERR_4471 in v1.2.3 at example.com: Straße, café, 東京")
    assert terms == ["err_4471", "v1.2.3", "example.com", "straße", "café", "東京"]


def test_repeated_words_are_kept_once() -> None:
    assert query_terms("zebra Zebra ZEBRA zebras") == ["zebra", "zebras"]


def test_fts5_syntax_becomes_plain_quoted_words() -> None:
    query = fts_query(query_terms('cats AND dogs NEAR(x y) title:* "unclosed -not ^start'))
    assert query == ('"cats" OR "dogs" OR "near" OR "x" OR "y" OR "title" OR "unclosed" OR "start"')


def test_text_without_words_gives_an_empty_query() -> None:
    assert query_terms("?! ... --- ___ ***") == []
    assert fts_query([]) == ""


NASTY = [
    "AND",
    "OR NOT",
    "NEAR",
    '"',
    '""',
    "'",
    "*",
    "a*",
    "(",
    ")",
    "((",
    "^",
    ":",
    "-",
    "col:value",
    "NEAR(a b, 2)",
    '"unbalanced',
    "x AND",
    "AND OR NOT",
    "{a b}",
    "a + b",
    "\x00",
    "\u200b",
    "🙂 emoji",
    "naïve café",
    "ﬁ ligature",
    "İstanbul",
    "ß",
    "_",
    "a_b_",
    "x" * 5000,
    " ".join(["w"] * 500),
    "1e10",
    "-1",
    "3.14",
    "C++",
    "C#",
    "node.js",
    "@user",
]


@pytest.mark.parametrize("text", NASTY)
def test_any_text_is_a_valid_query_on_a_real_store(tmp_path: Path, text: str) -> None:
    with Store.open(tmp_path / "store", create=True) as store:
        chunk = Chunk(
            "cats and dogs near x y, a_b C++ node.js naïve İstanbul",
            "/d/a.md",
            None,
            1,
            1,
            0,
            50,
            "",
        )
        store.replace_document(SourceFile("/d/a.md", 50, 1.0, "a" * 64), "md", [chunk])
        results = store.keyword_search(fts_query(query_terms(text)), 5)
        assert all(score > 0 for _, score in results)
