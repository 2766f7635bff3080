"""ragcli.evaluation.beir: reading BEIR data sets and writing their corpus as Markdown files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ragcli.errors import ExitCode, InputNotFoundError, UsageError
from ragcli.evaluation.beir import BeirDocument, iter_corpus, read_dataset, write_corpus

SCIFACT = Path("/work/shared/data/scifact")

CORPUS: list[dict[str, Any]] = [
    {"_id": "d1", "title": "Cats  and\n dogs", "text": "Cats purr."},
    {"_id": 2, "title": "", "text": "Untitled text."},
    {"_id": "d3", "text": "No title key."},
]
QUERIES: list[dict[str, Any]] = [
    {"_id": "q1", "text": "Do cats purr?"},
    {"_id": 7, "text": "Numeric query id"},
    {"_id": "q3", "text": "Only in train"},
    {"_id": "q4", "text": "Never judged"},
]
TEST_QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\n7\t2\t2\nq1\td3\t0\n"
TRAIN_QRELS = "query-id\tcorpus-id\tscore\nq3\td3\t1\n"


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def make_dataset(root: Path, test_qrels: str = TEST_QRELS) -> Path:
    """Write a tiny BEIR data set with test and train splits into root."""
    (root / "qrels").mkdir(parents=True)
    write_jsonl(root / "corpus.jsonl", CORPUS)
    write_jsonl(root / "queries.jsonl", QUERIES)
    (root / "qrels" / "test.tsv").write_text(test_qrels, encoding="utf-8")
    (root / "qrels" / "train.tsv").write_text(TRAIN_QRELS, encoding="utf-8")
    return root


def test_read_dataset_keeps_judged_queries_in_qrels_order(tmp_path: Path) -> None:
    dataset = read_dataset(make_dataset(tmp_path / "tiny"))

    assert dataset.root == tmp_path / "tiny"
    assert list(dataset.queries.items()) == [("q1", "Do cats purr?"), ("7", "Numeric query id")]
    assert dataset.qrels == {"q1": {"d1": 1, "d3": 0}, "7": {"2": 2}}


def test_read_dataset_selects_the_split(tmp_path: Path) -> None:
    dataset = read_dataset(make_dataset(tmp_path), split="train")

    assert dataset.queries == {"q3": "Only in train"}
    assert dataset.qrels == {"q3": {"d3": 1}}


@pytest.mark.parametrize(("limit", "expected"), [(1, ["q1"]), (2, ["q1", "7"]), (50, ["q1", "7"])])
def test_max_queries_keeps_the_first_queries(
    tmp_path: Path, limit: int, expected: list[str]
) -> None:
    dataset = read_dataset(make_dataset(tmp_path), max_queries=limit)

    assert list(dataset.queries) == expected
    assert list(dataset.qrels) == expected


def test_qrels_with_blank_lines_and_decimal_scores(tmp_path: Path) -> None:
    dataset = read_dataset(make_dataset(tmp_path, "query-id\tcorpus-id\tscore\n\nq1\td1\t1.0\r\n"))

    assert dataset.qrels == {"q1": {"d1": 1}}


def test_iter_corpus_streams_documents_with_string_ids(tmp_path: Path) -> None:
    documents = iter_corpus(make_dataset(tmp_path))

    assert next(documents) == BeirDocument("d1", "Cats  and\n dogs", "Cats purr.")
    assert list(documents) == [
        BeirDocument("2", "", "Untitled text."),
        BeirDocument("d3", "", "No title key."),
    ]


@pytest.mark.parametrize(
    ("missing", "split"),
    [
        ("corpus.jsonl", "test"),
        ("queries.jsonl", "test"),
        ("qrels/test.tsv", "test"),
        ("qrels/dev.tsv", "dev"),
    ],
)
def test_missing_files_name_the_file(tmp_path: Path, missing: str, split: str) -> None:
    root = make_dataset(tmp_path)
    if (root / missing).exists():
        (root / missing).unlink()

    with pytest.raises(InputNotFoundError) as caught:
        if missing == "corpus.jsonl":
            iter_corpus(root)
        else:
            read_dataset(root, split=split)

    assert caught.value.exit_code == ExitCode.INPUT_NOT_FOUND
    assert missing in caught.value.message
    assert "corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv" in caught.value.hint


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="nowhere"):
        read_dataset(tmp_path / "nowhere")
    with pytest.raises(InputNotFoundError, match="nowhere"):
        iter_corpus(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"_id": "d9", "text": ', "not valid JSON"),
        ('{"title": "no id", "text": "x"}', '"_id"'),
        ('["a", "list"]', "JSON object"),
        ('{"_id": "d9", "text": 5}', "'text'"),
    ],
)
def test_malformed_corpus_line_names_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    root = make_dataset(tmp_path)
    corpus = root / "corpus.jsonl"
    corpus.write_text(corpus.read_text() + "\n" + line + "\n")  # blank line 4, bad line 5

    with pytest.raises(UsageError) as caught:
        list(iter_corpus(root))

    message = caught.value.message
    assert "corpus.jsonl, line 5" in message
    assert reason in message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "row", ["q1\td1", "q1\td1\t1\textra", "q1\td1\thigh", "q1\td1\t0.5", "\td1\t1"]
)
def test_bad_qrels_row_names_file_and_line(tmp_path: Path, row: str) -> None:
    root = make_dataset(tmp_path, TEST_QRELS + row + "\n")

    with pytest.raises(UsageError, match=r"test\.tsv, line 5"):
        read_dataset(root)


def test_malformed_queries_line_names_file_and_line(tmp_path: Path) -> None:
    root = make_dataset(tmp_path)
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "ok"}\n{"text": "no id"}\n')

    with pytest.raises(UsageError, match=r"queries\.jsonl, line 2"):
        read_dataset(root)


def test_qrels_query_missing_from_queries(tmp_path: Path) -> None:
    root = make_dataset(tmp_path, TEST_QRELS + "q404\td1\t1\n")

    with pytest.raises(UsageError) as caught:
        read_dataset(root)

    assert "test.tsv, line 5" in caught.value.message
    assert "q404" in caught.value.message
    assert "queries.jsonl" in caught.value.message


def test_write_corpus_writes_markdown_files(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "docs"

    mapping = write_corpus(iter_corpus(make_dataset(tmp_path / "tiny")), folder)

    assert mapping == {"000000.md": "d1", "000001.md": "2", "000002.md": "d3"}
    assert sorted(p.name for p in folder.iterdir()) == list(mapping)
    assert (folder / "000000.md").read_text(encoding="utf-8") == "# Cats and dogs\n\nCats purr.\n"
    assert (folder / "000001.md").read_text(encoding="utf-8") == "Untitled text.\n"


def test_write_corpus_keep_filter_numbers_written_docs_only(tmp_path: Path) -> None:
    documents = [BeirDocument(f"d{i}", f"T{i}", f"text {i}") for i in range(5)]

    mapping = write_corpus(documents, tmp_path, keep=lambda doc_id: doc_id in {"d1", "d4"})

    assert mapping == {"000000.md": "d1", "000001.md": "d4"}
    assert (tmp_path / "000001.md").read_text(encoding="utf-8") == "# T4\n\ntext 4\n"
    assert not (tmp_path / "000002.md").exists()


def test_real_scifact_test_split() -> None:
    if not SCIFACT.is_dir():
        pytest.skip(f"{SCIFACT} is not available")

    dataset = read_dataset(SCIFACT)

    assert len(dataset.queries) == 300
    assert sum(len(grades) for grades in dataset.qrels.values()) == 339
    assert all(dataset.queries[query_id] for query_id in dataset.qrels)
    assert read_dataset(SCIFACT, max_queries=10).queries == dict(list(dataset.queries.items())[:10])
