"""`rag search` and hybrid retrieval through the CLI: real SQLite FTS5 and FAISS, fake embedder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ragcli.errors import ExitCode
from ragcli.retrieval.fusion import fuse, keep_each_best
from tests.conftest import run_rag as run

ROOT = Path(__file__).resolve().parents[2]
Capture = pytest.CaptureFixture[str]
GREP_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<snippet>.*)$")

ANIMALS = [
    "Walruses sleep on ice floes.\n\nThey can hold their breath for ten minutes.\n",
    "Zebras graze on the savanna.\n\nTheir stripes confuse biting flies.\n",
    "Owls hunt at night.\n\nTheir feathers make almost no sound.\n",
    "Penguins cannot fly.\n\nThey swim fast in cold water.\n",
]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n, text in enumerate(ANIMALS):
        (folder / f"animal{n}.md").write_text(f"# Animal {n}\n\n{text}")
    # An identifier the 8-dimension fake embedding cannot tell apart from anything else.
    (folder / "errors.md").write_text(
        "# Error codes\n\nIntro line.\n\nCode QX7-5521 means the coolant pump stalled.\n"
    )
    return folder


@pytest.fixture
def store(tmp_path: Path, docs: Path, capsys: Capture) -> Path:
    path = tmp_path / "store"
    code, _, err = run(capsys, "ingest", str(docs), "--store", str(path), "--embed-model", "fake:8")
    assert code == 0, err
    return path


def test_search_prints_grep_style_lines_pointing_at_the_matching_line(
    store: Path, capsys: Capture
) -> None:
    code, out, err = run(capsys, "search", "stripes confuse flies", "--store", str(store))
    assert code == 0 and err == ""
    first = GREP_LINE.match(out.splitlines()[0])
    assert first is not None
    assert first["path"].endswith("animal1.md")
    line = Path(first["path"]).read_text().splitlines()[int(first["line"]) - 1]
    assert "stripes confuse biting flies" in line
    assert first["snippet"] == line


def test_search_json_is_one_object_per_result_with_scores_per_mode(
    store: Path, capsys: Capture
) -> None:
    code, out, _ = run(
        capsys, "search", "penguins swim", "--store", str(store), "--json", "-k", "3"
    )
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(results) == 3
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert set(results[0]) == {
        "query",
        "rank",
        "store",
        "path",
        "page",
        "line",
        "start_line",
        "end_line",
        "heading",
        "score",
        "scores",
        "text",
        "ocr",
    }
    assert results[0]["ocr"] is False
    assert set(results[0]["scores"]) == {"dense", "keyword", "hybrid"}
    assert results[0]["path"].endswith("animal3.md") and results[0]["scores"]["keyword"] > 0
    assert results[0]["query"] == "penguins swim"
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_an_exact_identifier_is_found_first_even_when_the_embedding_misses_it(
    store: Path, capsys: Capture, mode: str
) -> None:
    code, out, _ = run(
        capsys,
        "search",
        "What does QX7-5521 mean?",
        "--store",
        str(store),
        "--mode",
        mode,
        "--json",
        "-k",
        "3",
    )
    top = json.loads(out.splitlines()[0])
    assert code == 0
    assert "QX7-5521" in top["text"] and top["line"] == 5


def test_dense_mode_has_no_keyword_scores_and_keyword_mode_no_dense(
    store: Path, capsys: Capture
) -> None:
    _, out, _ = run(capsys, "search", "owls", "--store", str(store), "--mode", "dense", "--json")
    assert all(json.loads(line)["scores"]["keyword"] is None for line in out.splitlines())
    _, out, _ = run(capsys, "search", "owls", "--store", str(store), "--mode", "keyword", "--json")
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == 1 and results[0]["scores"]["dense"] is None


def test_keyword_mode_works_before_anything_is_embedded(
    tmp_path: Path, docs: Path, capsys: Capture
) -> None:
    store = str(tmp_path / "store")
    run(capsys, "ingest", str(docs), "--store", store, "--embed-model", "fake:8", "--no-index")
    code, out, _ = run(capsys, "search", "owls", "--store", store, "--mode", "keyword")
    assert code == 0 and "animal2.md:" in out
    code, _, err = run(capsys, "search", "owls", "--store", store)
    assert code == ExitCode.NO_STORE and "--mode keyword" in err


def test_nothing_found_exits_8_with_empty_stdout(store: Path, capsys: Capture) -> None:
    code, out, _ = run(capsys, "search", "xylophone", "--store", str(store), "--mode", "keyword")
    assert code == ExitCode.NOT_FOUND and out == ""


def test_removed_and_changed_documents_leave_keyword_search_at_once(
    store: Path, docs: Path, capsys: Capture
) -> None:
    run(capsys, "rm", str(docs / "animal2.md"), "--store", str(store))
    (docs / "animal0.md").write_text("# Animal 0\n\nSeals bask on rocks.\n")
    run(capsys, "ingest", str(docs / "animal0.md"), "--store", str(store))
    for query in ("owls", "walruses"):
        code, out, _ = run(capsys, "search", query, "--store", str(store), "--mode", "keyword")
        assert code == ExitCode.NOT_FOUND and out == ""
    for mode in ("hybrid", "dense"):
        _, out, _ = run(capsys, "search", "owls hunt", "--store", str(store), "--mode", mode)
        assert "animal2.md" not in out


@pytest.mark.parametrize("query", ["AND", '"', "NEAR(a b)", "x*", "col:1", "(", "🙂", "ß ñ 東京"])
def test_fts5_syntax_and_unicode_never_raise(store: Path, capsys: Capture, query: str) -> None:
    code, _, err = run(capsys, "search", query, "--store", str(store))
    assert code in (0, ExitCode.NOT_FOUND), err
    assert "Traceback" not in err


def test_queries_from_stdin_each_get_their_results(
    store: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"owls\n\nzebras\n")))
    code, out, _ = run(capsys, "search", "-", "--store", str(store), "--json", "-k", "1")
    assert code == 0
    assert [json.loads(line)["query"] for line in out.splitlines()] == ["owls", "zebras"]


def test_pdf_results_note_the_page(tmp_path: Path, capsys: Capture) -> None:
    store = str(tmp_path / "store")
    run(
        capsys,
        "ingest",
        str(ROOT / "sample_docs" / "vector-search.pdf"),
        "--store",
        store,
        "--embed-model",
        "fake:64",
    )
    _, out, _ = run(capsys, "search", "efSearch", "--store", store, "-k", "1")
    assert re.match(r"^(.*/)?vector-search\.pdf:\d+: \[page \d\] .*efSearch", out), out


def test_fusion_is_a_convex_sum_with_bm25_scaled_by_the_best() -> None:
    fused = fuse({1: 0.5, 2: 0.1}, {2: 10.0, 3: 5.0}, dense_weight=0.7)
    assert fused == pytest.approx({1: 0.35, 2: 0.07 + 0.3, 3: 0.15})


def test_each_modes_best_keeps_a_place_in_the_top_k() -> None:
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.1)]
    assert [i for i, _ in keep_each_best(ranked, [[(1, 0.5)], [(4, 9.0)]], 3)] == [1, 2, 4, 3]
    assert [i for i, _ in keep_each_best(ranked, [[(4, 0.5)]], 1)] == [1, 2, 3, 4]
