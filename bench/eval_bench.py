"""Retrieval quality on BEIR SciFact: the table of docs/benchmarks.md, each mode and figure.

Runs `rag eval` (the real pipeline, bundled MiniLM) on the full test split (int8 document
embeddings, the default, and --fp32 ones, each in its own kept store), on the reduced
subset CI runs (tests/data/scifact-subset, written by --write-subset from the same data),
and with --tune sweeps the hybrid dense weight on the train split, where it was chosen.
Prints Markdown tables. A kept work folder (bench/out/scifact) makes re-runs skip embedding.

Run: python bench/eval_bench.py [--dataset DIR] [--tune] [--write-subset]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.build import BuildSettings  # noqa: E402
from ragcli.evaluation.beir import read_dataset  # noqa: E402
from ragcli.progress import SilentProgress  # noqa: E402
from ragcli.records import EvalReport  # noqa: E402
from ragcli.retrieval.modes import RETRIEVAL_MODES  # noqa: E402
from ragcli.retrieval.retriever import RetrievalSettings  # noqa: E402
from ragcli.settings import defaults  # noqa: E402
from ragcli.steps.evaluate import EvalOptions, evaluate, select_documents  # noqa: E402

SUBSET = ROOT / "tests" / "data" / "scifact-subset"
# The reduced run CI checks against docs/benchmarks.md: these queries and documents of SciFact.
SUBSET_QUERIES = 40
SUBSET_DOCUMENTS = 300


def run(dataset: Path, work: Path, split: str = "test", **changes: object) -> EvalReport:
    """One `rag eval` through the library, as the CLI would run it."""
    options = EvalOptions(
        dataset=dataset,
        modes=RETRIEVAL_MODES,
        build=BuildSettings.as_stored(),
        settings=RetrievalSettings(mode=defaults().mode),
        split=split,
        max_queries=None,
        max_documents=None,
        work_dir=work,
        batch_size=defaults().batch_size,
    )
    return evaluate(replace(options, **changes), SilentProgress())  # type: ignore[arg-type]


def print_modes(title: str, report: EvalReport) -> None:
    """A Markdown table: one row per mode, every figure."""
    print(
        f"\n{title}: {report.queries} queries, {report.documents:,} documents, "
        f"{report.chunks:,} chunks; HNSW recall@10 vs exact "
        f"{report.hnsw_recall_at_10:.4f}\n"
    )
    print("| mode | nDCG@10 | recall@10 | recall@100 | MRR@10 | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for mode in report.modes:
        s = mode.scores
        print(
            f"| {mode.mode} | {s.ndcg_at_10:.4f} | {s.recall_at_10:.4f} | "
            f"{s.recall_at_100:.4f} | {s.mrr_at_10:.4f} | {mode.latency_p50_ms:.1f} | "
            f"{mode.latency_p95_ms:.1f} |"
        )


def write_subset(dataset: Path, folder: Path) -> None:
    """Copy the reduced data set CI evaluates: the first queries, judged docs, distractors."""
    reduced = read_dataset(dataset, "test", SUBSET_QUERIES)
    keep = select_documents(reduced, SUBSET_DOCUMENTS)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (
        (dataset / "corpus.jsonl").open(encoding="utf-8") as source,
        (folder / "corpus.jsonl").open("w", encoding="utf-8") as target,
    ):
        target.writelines(line for line in source if json.loads(line)["_id"] in keep)
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as target:
        for query_id, text in reduced.queries.items():
            target.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as target:
        target.write("query-id\tcorpus-id\tscore\n")
        for query_id, relevant in reduced.qrels.items():
            target.writelines(f"{query_id}\t{doc}\t{grade}\n" for doc, grade in relevant.items())


def tune(dataset: Path, work: Path) -> None:
    """Sweep the hybrid dense weight on the train split (the default was picked here)."""
    print("\nHybrid dense weight on SciFact train (nDCG@10):\n")
    print("| dense weight | nDCG@10 | recall@100 |")
    print("|---|---|---|")
    for weight in (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9):
        settings = RetrievalSettings(mode="hybrid", dense_weight=weight)
        report = run(dataset, work, "train", modes=("hybrid",), settings=settings)
        s = report.modes[0].scores
        print(f"| {weight} | {s.ndcg_at_10:.4f} | {s.recall_at_100:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench/out/scifact-int8")
    parser.add_argument("--fp32-work-dir", type=Path, default=ROOT / "bench/out/scifact")
    parser.add_argument("--tune", action="store_true", help="sweep the weight on train")
    parser.add_argument("--write-subset", action="store_true", help=f"write {SUBSET}")
    args = parser.parse_args()
    if not (args.dataset / "corpus.jsonl").is_file():
        sys.exit(f"no BEIR data set at {args.dataset}: pass --dataset DIR")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"SciFact retrieval, bundled all-MiniLM-L6-v2 ({machine})")
    if args.write_subset:
        write_subset(args.dataset, SUBSET)
    default = run(args.dataset, args.work_dir)
    print_modes("SciFact test, full (default: int8 document embeddings)", default)
    fp32 = run(args.dataset, args.fp32_work_dir, build=BuildSettings.as_stored(int8=False))
    print_modes("SciFact test, full, --fp32 document embeddings", fp32)
    print(
        "\nnDCG@10 change from fp32 to int8 document embeddings: "
        + ", ".join(
            f"{a.mode} {a.scores.ndcg_at_10 - b.scores.ndcg_at_10:+.4f}"
            for a, b in zip(default.modes, fp32.modes, strict=True)
        )
    )
    print_modes(
        f"SciFact test, CI subset ({SUBSET.relative_to(ROOT)})",
        run(SUBSET, args.work_dir.with_name("scifact-subset-int8")),
    )
    if args.tune:
        tune(args.dataset, args.work_dir)


if __name__ == "__main__":
    main()
