"""`rag eval` on small BEIR data sets written by the tests (fake embedder via the registry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragcli.errors import ExitCode
from ragcli.records import Chunk, Hit
from ragcli.steps.evaluate import rank_documents
from tests.conftest import run_rag as run

Capture = pytest.CaptureFixture[str]
FAKE = ["--embed-model", "fake:64"]

DOCS = {
    "d1": ("Walruses", "Walruses sleep on ice floes and hold their breath for minutes."),
    "d2": ("Zebras", "Zebras graze on the savanna; stripes confuse biting flies."),
    "d3": ("Owls", "Owls hunt at night with feathers that make almost no sound."),
    "d4": ("Penguins", "Penguins cannot fly but swim fast in cold water."),
    "d5": ("Camels", "Camels store fat in their humps and cross deserts."),
    "d6": ("Bees", "Bees dance to tell the hive where flowers are."),
}
QUERIES = {
    "q1": ("owls hunt at night", "d3"),
    "q2": ("camels humps deserts", "d5"),
    "q3": ("bees dance flowers", "d6"),
}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in DOCS.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in QUERIES.items())
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, (_, d) in QUERIES.items())
    )
    return root


def test_eval_reports_every_figure_for_every_mode(dataset: Path, capsys: Capture) -> None:
    code, out, err = run(capsys, "eval", str(dataset), *FAKE, "--json")
    report = json.loads(out)
    assert code == 0, err
    assert (report["documents"], report["queries"], report["split"]) == (6, 3, "test")
    assert report["chunks"] >= 6
    assert report["hnsw_recall_at_10"] == 1.0
    assert list(report["modes"]) == ["hybrid", "dense", "keyword"]
    for figures in report["modes"].values():
        assert set(figures) == {
            "ndcg_at_10",
            "recall_at_10",
            "recall_at_100",
            "mrr_at_10",
            "latency_p50_ms",
            "latency_p95_ms",
        }
        assert all(0.0 <= figures[k] <= 1.0 for k in figures if not k.startswith("latency"))
        assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"]
    # Each query repeats words of exactly one document: BM25 ranks it first every time.
    assert report["modes"]["keyword"]["ndcg_at_10"] == 1.0
    assert report["modes"]["hybrid"]["recall_at_10"] == 1.0


def test_eval_table_and_chosen_modes(dataset: Path, capsys: Capture) -> None:
    code, out, _ = run(
        capsys, "eval", str(dataset), *FAKE, "--mode", "keyword", "--mode", "keyword", "-q"
    )
    lines = out.splitlines()
    assert code == 0
    assert lines[1].split() == [
        "mode",
        "nDCG@10",
        "R@10",
        "R@100",
        "MRR@10",
        "p50",
        "ms",
        "p95",
        "ms",
    ]
    assert [line.split()[0] for line in lines[2:]] == ["keyword"]  # no HNSW line either


def test_reduced_run_keeps_judged_documents(dataset: Path, capsys: Capture) -> None:
    code, out, _ = run(
        capsys, "eval", str(dataset), *FAKE, "--json", "--max-queries", "1", "--max-docs", "3"
    )
    report = json.loads(out)
    assert code == 0 and report["queries"] == 1 and report["documents"] == 3
    assert report["modes"]["keyword"]["recall_at_10"] == 1.0


def test_a_kept_work_dir_is_reused_without_rewriting_or_re_embedding(
    dataset: Path, tmp_path: Path, capsys: Capture
) -> None:
    work = tmp_path / "work"
    run(capsys, "eval", str(dataset), *FAKE, "--work-dir", str(work), "--mode", "dense")
    files = {p: p.stat().st_mtime_ns for p in (work / "corpus").iterdir()}
    code, out, _ = run(
        capsys, "eval", str(dataset), "--work-dir", str(work), "--json", "--mode", "dense"
    )
    assert code == 0 and json.loads(out)["documents"] == 6
    assert {p: p.stat().st_mtime_ns for p in (work / "corpus").iterdir()} == files


def test_eval_never_touches_the_users_store(
    dataset: Path, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_STORE", str(tmp_path / "user-store"))
    code, _, _ = run(capsys, "eval", str(dataset), *FAKE, "--mode", "keyword", "-q")
    assert code == 0 and not (tmp_path / "user-store").exists()


def test_missing_data_set_file_is_one_line_and_exit_4(dataset: Path, capsys: Capture) -> None:
    (dataset / "qrels" / "test.tsv").unlink()
    code, out, err = run(capsys, "eval", str(dataset), *FAKE)
    assert code == ExitCode.INPUT_NOT_FOUND and out == ""
    assert "test.tsv" in err and err.count("\n") <= 2 and "Traceback" not in err


def test_malformed_corpus_line_is_a_usage_error(dataset: Path, capsys: Capture) -> None:
    with (dataset / "corpus.jsonl").open("a") as corpus:
        corpus.write("{not json\n")
    code, _, err = run(capsys, "eval", str(dataset), *FAKE)
    assert code == ExitCode.USAGE and "line 7" in err


def test_documents_are_ranked_by_their_best_chunk() -> None:
    def hit(name: str) -> Hit:
        return Hit(Chunk("t", f"/w/corpus/{name}", None, 1, 1, 0, 1, ""), 0.5)

    names = {"000000.md": "a", "000001.md": "b"}
    hits = [hit("000001.md"), hit("000000.md"), hit("000001.md"), hit("stray.md")]
    assert rank_documents(hits, names) == ["b", "a"]
