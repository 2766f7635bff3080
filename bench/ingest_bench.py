"""Ingest benchmark: the real `rag ingest` against the bare model's throughput.

Prints one Markdown table. Run: python bench/ingest_bench.py [--files 400] [--quick]

On the 400-file corpus of bench/core_bench.py it runs `rag ingest` twice in fresh
processes: today's batching (chunks sorted by token length in windows of
EMBED_WINDOW_BATCHES batches) and the old one (id order, batches of 64; the same code with
a window of one batch). Tokens are the word pieces fed to the model, padding excluded;
padded tokens are what the model computes. The bare model runs the same batches through
onnxruntime's `session.run` alone (inputs tokenized beforehand; no SQLite, no pooling):
the limit ingest can reach. A sweep of batch sizes on sorted batches follows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_bench import ROOT, make_corpus  # noqa: E402

# Runs `rag` with the batching window patched, timing the embedding loop and the index
# update inside the real ingest; writes the seconds as JSON to argv[1].
WRAPPER = """
import json, sys, time
import ragcli.indexing as index_step
import ragcli.steps.ingest as ingest_step
out, window = sys.argv[1], int(sys.argv[2])
index_step.EMBED_WINDOW_BATCHES = window
seconds = {"index_chunks": 0.0, "update_index": 0.0}
def timed(name, function):
    def run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] += time.perf_counter() - started
    return run
ingest_step.index_chunks = timed("index_chunks", index_step.index_chunks)
index_step.update_index = timed("update_index", index_step.update_index)
from ragcli.cli import main
try:
    main(sys.argv[3:])
finally:
    with open(out, "w") as handle:
        json.dump(seconds, handle)
"""


@dataclass(frozen=True)
class Variant:
    """One way of batching: its name, batch size and window (in batches)."""

    name: str
    batch_size: int
    window_batches: int


@dataclass(frozen=True)
class Run:
    """One real ingest: wall seconds and seconds inside the embedding loop."""

    wall_s: float
    embed_s: float


def real_ingest(corpus: Path, store: Path, variant: Variant, scratch: Path) -> Run:
    """Run `rag ingest` in a fresh process with the variant's batching."""
    shutil.rmtree(store, ignore_errors=True)
    out = scratch / "seconds.json"
    command = [
        sys.executable,
        "-c",
        WRAPPER,
        str(out),
        str(variant.window_batches),
        "ingest",
        str(corpus),
        "--store",
        str(store),
        "-q",
        "--batch-size",
        str(variant.batch_size),
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    seconds = json.loads(out.read_text())
    # The keyword-index check after the update is a fraction of a second; it stays in.
    return Run(wall, seconds["index_chunks"] - seconds["update_index"])


def unembedded_copy(store: Path, scratch: Path) -> Path:
    """Copy a built store and drop its vectors: every chunk needs embedding again."""
    copy = scratch / "unembedded"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy)
    with sqlite3.connect(copy / "store.sqlite3") as db:
        db.execute("DELETE FROM embeddings")
    return copy


def batches_of(store: Path, embedder: Any, variant: Variant) -> list[list[str]]:
    """The texts of each batch `rag index` forms on this store with the variant's batching."""
    import ragcli.indexing as index_step
    from ragcli.store import Store

    saved = index_step.EMBED_WINDOW_BATCHES
    index_step.EMBED_WINDOW_BATCHES = variant.window_batches
    try:
        with Store.open(store) as opened:
            return [
                [chunk.embed_text for chunk in batch]
                for batch in index_step.embedding_batches(opened, embedder, variant.batch_size)
            ]
    finally:
        index_step.EMBED_WINDOW_BATCHES = saved


@dataclass(frozen=True)
class Model:
    """The model's work on a list of batches: tokens, padded tokens, seconds."""

    tokens: int
    padded: int
    bare_s: float
    embed_s: float


def model_run(embedder: Any, batches: list[list[str]], full_path: bool) -> Model:
    """Time session.run alone on pre-tokenized batches (and the whole embed path if asked)."""
    import numpy as np

    embedder.load()
    encoded = [embedder.encode(texts) for texts in batches]
    bare = 0.0
    for ids, mask in encoded:
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        started = time.perf_counter()
        embedder._session.run(None, inputs)
        bare += time.perf_counter() - started
    embed = 0.0
    if full_path:
        started = time.perf_counter()
        for texts in batches:
            embedder.embed(texts, len(texts))
        embed = time.perf_counter() - started
    return Model(
        sum(int(mask.sum()) for _, mask in encoded),
        sum(int(ids.size) for ids, _ in encoded),
        bare,
        embed,
    )


def document_embedder() -> Any:
    """The int8 ONNX embedder `rag ingest` uses by default (exported by a warm-up ingest)."""
    from ragcli.bundled import BUNDLED_EMBEDDER
    from ragcli.embedding.factory import make_document_embedder, make_embedder
    from ragcli.locations import model_cache_dir

    embedder = make_document_embedder(make_embedder(BUNDLED_EMBEDDER), model_cache_dir())
    if not hasattr(embedder, "encode"):
        raise SystemExit("no int8 ONNX export in the model cache; run `rag ingest` once")
    return embedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400, help="generated corpus files")
    parser.add_argument("--runs", type=int, default=1, help="real ingests per variant")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batch size of the sorted variant [default: the configured one]",
    )
    parser.add_argument("--sizes", default="8,16,32,64,128", help="batch sizes to sweep")
    parser.add_argument(
        "--sweep-chunks", type=int, default=1024, help="chunks the batch-size sweep embeds"
    )
    parser.add_argument(
        "--quick", action="store_true", help="80 files, sweep of 256 chunks: a check that it runs"
    )
    args = parser.parse_args()
    if args.quick:
        args.files, args.sweep_chunks = 80, 256
    from ragcli.indexing import EMBED_WINDOW_BATCHES
    from ragcli.settings import defaults

    sorted_variant = Variant(
        "sorted by length (today)", args.batch_size or defaults().batch_size, EMBED_WINDOW_BATCHES
    )
    variants = [Variant("id order, batch 64 (before)", 64, 1), sorted_variant]
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        warm = scratch / "warm"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ragcli",
                "ingest",
                str(ROOT / "sample_docs"),
                "--store",
                str(warm),
                "-q",
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        corpus = scratch / "corpus"
        make_corpus(corpus, args.files)
        runs: dict[str, list[Run]] = {v.name: [] for v in variants}
        for _ in range(args.runs):
            for variant in variants:  # interleaved: drift on a shared machine hits both
                runs[variant.name].append(real_ingest(corpus, scratch / "store", variant, scratch))
        chunks = sqlite_count(scratch / "store")
        embedder = document_embedder()
        unembedded = unembedded_copy(scratch / "store", scratch)
        rows = []
        for variant in variants:
            model = model_run(embedder, batches_of(unembedded, embedder, variant), False)
            wall = statistics.median(r.wall_s for r in runs[variant.name])
            embed = statistics.median(r.embed_s for r in runs[variant.name])
            rows.append((variant, wall, embed, model))
        sweep = sweep_sizes(embedder, unembedded, args)
    print_tables(args, chunks, rows, sweep)


def sqlite_count(store: Path) -> int:
    with sqlite3.connect(store / "store.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def sweep_sizes(embedder: Any, store: Path, args: argparse.Namespace) -> list[tuple[int, Model]]:
    """Embed the first chunks in sorted batches of each size: bare model and embed path."""
    from ragcli.indexing import EMBED_WINDOW_BATCHES

    texts = [t for batch in batches_of(store, embedder, Variant("", 64, 1)) for t in batch]
    texts = texts[: args.sweep_chunks]
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        window = size * EMBED_WINDOW_BATCHES
        batches = []
        for start in range(0, len(texts), window):
            part = texts[start : start + window]
            lengths = embedder.count_tokens(part)
            ordered = [part[row] for row in sorted(range(len(part)), key=lengths.__getitem__)]
            batches += [ordered[i : i + size] for i in range(0, len(ordered), size)]
        embedder.embed(batches[0], size)  # warm the allocator for this shape
        results.append((size, model_run(embedder, batches, True)))
    return results


def print_tables(
    args: argparse.Namespace, chunks: int, rows: list[Any], sweep: list[tuple[int, Model]]
) -> None:
    import os
    import platform

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(
        f"ragcli ingest benchmark ({machine}; {args.files} files, {chunks} chunks, int8 "
        f"ONNX embedder; real ingest: median of {args.runs})\n"
    )
    print(
        "| batching | ingest+index wall | chunks/s | tokens/s (wall) | embedding loop | "
        "tokens/s (loop) | tokens | padded tokens | bare model | bare tokens/s | "
        "loop / bare |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for variant, wall, embed, model in rows:
        print(
            f"| {variant.name}, window {variant.window_batches}x{variant.batch_size} "
            f"| {wall:.1f} s | {chunks / wall:.1f} | {model.tokens / wall:,.0f} "
            f"| {embed:.1f} s | {model.tokens / embed:,.0f} | {model.tokens:,} "
            f"| {model.padded:,} | {model.bare_s:.1f} s | {model.tokens / model.bare_s:,.0f} "
            f"| {model.bare_s / embed:.2f} |"
        )
    (_, old_wall, old_embed, _), (_, new_wall, new_embed, _) = rows[0], rows[-1]
    print(
        f"\nspeed-up, ingest+index wall: {old_wall / new_wall:.2f}x; "
        f"embedding loop: {old_embed / new_embed:.2f}x\n"
    )
    print(
        f"batch sizes on sorted batches ({sweep[0][1].tokens:,} tokens of the first "
        f"{args.sweep_chunks} chunks):\n"
    )
    print("| batch size | padded tokens | bare model tokens/s | embed() tokens/s |")
    print("|---|---|---|---|")
    for size, model in sweep:
        print(
            f"| {size} | {model.padded:,} | {model.tokens / model.bare_s:,.0f} "
            f"| {model.tokens / model.embed_s:,.0f} |"
        )


if __name__ == "__main__":
    main()
