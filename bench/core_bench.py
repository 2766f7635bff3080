"""Core benchmark: start-up, ingest throughput, cold and batch `ask`, peak memory.

Prints one table. Run: python bench/core_bench.py [--files 400]
Every figure comes from real runs of the installed `rag` with the bundled models.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAG = [sys.executable, "-m", "ragcli"]
QUESTIONS = [
    "How many parameters does Grok-0 have?",
    "What does HNSW stand for?",
    "What is retrieval-augmented generation?",
    "What is the difference between precision and recall?",
    "How many dimensions does all-MiniLM-L6-v2 produce?",
    "What does fine-tuning change in a model?",
    "What is cosine similarity?",
    "What did Grok-1 score on MMLU?",
]

MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdin=sys.stdin, stdout=subprocess.DEVNULL)
elapsed = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(done.returncode, elapsed, peak_kb)
"""


def measured(args: list[str], stdin: str | None = None) -> tuple[float, float]:
    """Run a command in a fresh process; return (wall seconds, peak RSS in MiB)."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    code, elapsed, peak_kb = done.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(args)} exited {code}: {done.stderr}")
    return float(elapsed), int(peak_kb) / 1024


def sample_sentences() -> list[str]:
    """Sentences of the Markdown and text files in sample_docs/, for generated corpora."""
    sentences = []
    for path in sorted((ROOT / "sample_docs").glob("*.[mt]*[dt]")):
        text = path.read_text(encoding="utf-8")
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 40]
    return sentences


def make_corpus(folder: Path, files: int) -> None:
    """Write a deterministic corpus: sample_docs sentences recombined into new documents."""
    sentences = sample_sentences()
    rng = random.Random(7)
    folder.mkdir(parents=True)
    for number in range(files):
        paragraphs = [" ".join(rng.sample(sentences, 5)) for _ in range(8)]
        body = "\n\n".join(paragraphs)
        (folder / f"doc{number:04d}.md").write_text(f"# Document {number}\n\n{body}\n")


def cold_ask_split(store: Path) -> dict[str, float]:
    """Time model load, retrieval and generation of one question in a fresh process."""
    probe = f"""
import json, time
from pathlib import Path
from dataclasses import replace
from ragcli.library import Library
from ragcli.settings import defaults
store = Path({str(store)!r})
with Library(replace(defaults(), store=store, stores=(store,), model="default")) as library:
    library.load(answering=True)
    library.ask({QUESTIONS[0]!r})
    t = library.timings
print(json.dumps({{"load_s": t.load_s, "retrieve_s": t.retrieve_s, "generate_s": t.generate_s}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def first_token(store: Path, runs: int = 5) -> tuple[float, float]:
    """Median seconds from process start to the first answer byte, and to the end."""
    firsts, totals = [], []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            [*RAG, "ask", QUESTIONS[0], "--store", str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        assert process.stdout is not None
        process.stdout.read(1)
        firsts.append(time.perf_counter() - started)
        process.stdout.read()
        process.wait()
        totals.append(time.perf_counter() - started)
    return statistics.median(firsts), statistics.median(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400, help="generated corpus files")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        helps = [measured([*RAG, "--help"])[0] for _ in range(5)]
        rows.append(("rag --help wall time (median of 5)", f"{statistics.median(helps):.3f} s"))

        corpus, store = scratch_dir / "corpus", scratch_dir / "store"
        make_corpus(corpus, args.files)
        seconds, peak = measured([*RAG, "ingest", str(corpus), "--store", str(store), "-q"])
        status = json.loads(
            subprocess.run(
                [*RAG, "status", "--store", str(store), "--json"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            ).stdout
        )
        chunks = status["chunks"]
        rows.append((f"ingest+index {args.files} files, {chunks} chunks", f"{seconds:.1f} s"))
        rows.append(("ingest+index throughput", f"{chunks / seconds:.1f} chunks/s"))
        rows.append(("ingest+index peak RSS", f"{peak:.0f} MiB"))
        fp32_seconds, fp32_peak = measured(
            [*RAG, "ingest", str(corpus), "--store", str(scratch_dir / "fp32"), "-q", "--fp32"]
        )
        rows.append(
            (
                "ingest+index --fp32 (sentence-transformers, torch)",
                f"{fp32_seconds:.1f} s, {chunks / fp32_seconds:.1f} chunks/s, "
                f"peak RSS {fp32_peak:.0f} MiB",
            )
        )
        rows.append(
            (
                "ingest+index speed-up of the int8 default over --fp32",
                f"{fp32_seconds / seconds:.2f}x",
            )
        )

        sample = scratch_dir / "sample"
        measured([*RAG, "ingest", str(ROOT / "sample_docs"), "--store", str(sample), "-q"])
        statuses = [measured([*RAG, "status", "--store", str(sample)])[0] for _ in range(5)]
        rows.append(("rag status wall time (median of 5)", f"{statistics.median(statuses):.3f} s"))
        # Also saves the model's prompt-prefix state if this machine has never asked before.
        seconds, peak = measured([*RAG, "ask", QUESTIONS[0], "--store", str(sample)])
        first, total = first_token(sample)
        rows.append(("cold rag ask: first answer byte (median of 5)", f"{first:.2f} s"))
        rows.append(("cold rag ask: whole process (median of 5)", f"{total:.2f} s"))
        rows.append(("cold rag ask peak RSS", f"{peak:.0f} MiB"))
        split = cold_ask_split(sample)
        rows.append(("  model load (store, embedder, index, LLM)", f"{split['load_s']:.2f} s"))
        rows.append(("  retrieval", f"{split['retrieve_s'] * 1000:.0f} ms"))
        rows.append(("  generation", f"{split['generate_s']:.2f} s"))

        batch = "\n".join(QUESTIONS) + "\n"
        seconds, peak = measured([*RAG, "ask", "--json", "--store", str(sample)], stdin=batch)
        rows.append(
            (
                f"batch ask, {len(QUESTIONS)} questions (one process)",
                f"{len(QUESTIONS) / seconds:.2f} questions/s",
            )
        )
        rows.append(("batch ask peak RSS", f"{peak:.0f} MiB"))

    print_table("ragcli core benchmark", "bundled models", rows)


def print_table(title: str, models: str, rows: list[tuple[str, str]]) -> None:
    """Print a titled two-column table of measures, naming the machine they ran on."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"{title} ({machine}, {models})")
    width = max(len("measure"), *(len(name) for name, _ in rows))
    print(f"{'measure'.ljust(width)}  value")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
