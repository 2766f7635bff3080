"""Read BEIR-format data sets (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) and export the corpus.

The format is the one of the BEIR benchmark (https://github.com/beir-cellar/beir): ids may be
JSON numbers in some data sets and are always turned into strings here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragcli.errors import InputNotFoundError, UsageError

_HINT = "a BEIR data set holds corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv"


@dataclass(frozen=True)
class BeirDocument:
    """One corpus entry; the title is empty when the data set has none."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    """The judged queries of one split, in qrels order, with their relevance grades."""

    root: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def read_dataset(root: Path, split: str = "test", max_queries: int | None = None) -> BeirDataset:
    """Read a split's qrels and the text of its queries, keeping the first max_queries."""
    _require_folder(root)
    queries_path = _require_file(root / "queries.jsonl")
    qrels_path = _require_file(root / "qrels" / f"{split}.tsv")
    qrels, first_lines = _read_qrels(qrels_path)
    if max_queries is not None:
        qrels = dict(list(qrels.items())[: max(max_queries, 0)])
    texts = _read_query_texts(queries_path, wanted=set(qrels))
    for query_id in qrels:
        if query_id not in texts:
            raise UsageError(
                f"{qrels_path}, line {first_lines[query_id]}: query {query_id!r} "
                f"is not in {queries_path}"
            )
    queries = {query_id: texts[query_id] for query_id in qrels}
    return BeirDataset(root=root, queries=queries, qrels=qrels)


def iter_corpus(root: Path) -> Iterator[BeirDocument]:
    """Yield the corpus documents line by line; raises at once if corpus.jsonl is missing."""
    _require_folder(root)
    # Checked here rather than inside the generator so a missing file fails at the call.
    return _corpus_documents(_require_file(root / "corpus.jsonl"))


def write_corpus(
    documents: Iterable[BeirDocument],
    folder: Path,
    keep: Callable[[str], bool] | None = None,
) -> dict[str, str]:
    """Write each kept document as folder/NNNNNN.md and return {file name: doc id}."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for document in documents:
        if keep is not None and not keep(document.id):
            continue
        name = f"{len(written):06d}.md"
        target, content = folder / name, _markdown(document).encode("utf-8")
        # An unchanged file is left alone, so re-ingesting a kept folder costs one stat each.
        if not target.is_file() or target.read_bytes() != content:
            target.write_bytes(content)
        written[name] = document.id
    return written


def _markdown(document: BeirDocument) -> str:
    title = " ".join(document.title.split())
    return f"# {title}\n\n{document.text}\n" if title else f"{document.text}\n"


def _corpus_documents(path: Path) -> Iterator[BeirDocument]:
    for line_number, record in _json_lines(path):
        yield BeirDocument(
            id=_record_id(record, path, line_number),
            title=_optional_text(record, "title", path, line_number),
            text=_optional_text(record, "text", path, line_number),
        )


def _read_query_texts(path: Path, wanted: set[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for line_number, record in _json_lines(path):
        query_id = _record_id(record, path, line_number)
        text = _optional_text(record, "text", path, line_number)
        if query_id in wanted:
            texts[query_id] = text
    return texts


def _read_qrels(path: Path) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Return qrels in file order and the line on which each query first appears."""
    qrels: dict[str, dict[str, int]] = {}
    first_lines: dict[str, int] = {}
    for line_number, line in _text_lines(path):
        cells = [cell.strip() for cell in line.rstrip("\r\n").split("\t")]
        if not any(cells) or (line_number == 1 and cells[0].lower() == "query-id"):
            continue
        if len(cells) != 3 or not cells[0] or not cells[1]:
            raise UsageError(
                f"{path}, line {line_number}: expected query-id, corpus-id and score "
                f"separated by tabs, got {len(cells)} column(s)"
            )
        query_id, doc_id, score = cells
        qrels.setdefault(query_id, {})[doc_id] = _grade(score, path, line_number)
        first_lines.setdefault(query_id, line_number)
    return qrels, first_lines


def _grade(score: str, path: Path, line_number: int) -> int:
    # Some exports write grades as "1.0"; they are still whole numbers.
    try:
        value = float(score)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise UsageError(f"{path}, line {line_number}: score {score!r} is not a whole number")
    return int(value)


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_number, line in _text_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}, line {line_number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise UsageError(f"{path}, line {line_number}: expected a JSON object")
        yield line_number, record


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        # utf-8-sig: files saved by some editors start with a byte-order mark.
        with path.open(encoding="utf-8-sig") as stream:
            yield from enumerate(stream, start=1)
    except UnicodeDecodeError as exc:
        # Decoding runs ahead of the lines read, so no line number would be exact.
        raise UsageError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise InputNotFoundError(f"cannot read {path}: {exc.strerror}", _HINT) from exc


def _record_id(record: dict[str, Any], path: Path, line_number: int) -> str:
    value = record.get("_id")
    # bool is an int subclass, but true/false is no id.
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise UsageError(f'{path}, line {line_number}: missing or invalid "_id"')
    return str(value)


def _optional_text(record: dict[str, Any], key: str, path: Path, line_number: int) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"{path}, line {line_number}: {key!r} must be a string")
    return value


def _require_folder(root: Path) -> None:
    if not root.is_dir():
        raise InputNotFoundError(f"no BEIR data set folder at {root}", _HINT)


def _require_file(path: Path) -> Path:
    if not path.is_file():
        raise InputNotFoundError(f"missing {path}", _HINT)
    return path
