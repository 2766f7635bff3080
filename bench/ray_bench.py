"""Ray benchmark: `rag index` embedding throughput in process and with `--ray` (1, 2 workers).

Prints one Markdown table. Run: python bench/ray_bench.py [--files 740] [--runs 1] [--quick]

The corpus is bench/core_bench.py's generated Markdown, chunked once (`rag ingest
--no-index`); each run copies that store and runs the real `rag index` in a fresh process,
so every variant embeds the same chunks in the same batches. The embedding time is the
time inside `index_chunks` less the index update; Ray's start (`ray.init`, its ~10
processes) and stop are timed apart, so the table gives throughput with and without them.
On one machine, Ray cannot beat the default path (which already uses every core); the
figure says what the overhead is of the code a cluster runs.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_bench import ROOT, make_corpus  # noqa: E402

# Runs `rag ARGS` timing the embedding (index_chunks less update_index), Ray's start and
# its shutdown; writes the seconds as JSON to argv[1].
WRAPPER = """
import json, sys, time
import ragcli.indexing as index_step
import ragcli.steps.index as index_verb
out = sys.argv[1]
seconds = {"index_chunks": 0.0, "update_index": 0.0, "ray_init": 0.0, "ray_shutdown": 0.0}
def timed(name, function):
    def run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] += time.perf_counter() - started
    return run
index_verb.index_chunks = timed("index_chunks", index_step.index_chunks)
index_step.update_index = timed("update_index", index_step.update_index)
if "--ray" in sys.argv:
    import ray
    import ragcli.embedding.ray as ray_embedding
    ray_embedding._connect = timed("ray_init", ray_embedding._connect)
    ray.shutdown = timed("ray_shutdown", ray.shutdown)
from ragcli.cli import main
try:
    main(sys.argv[2:])
finally:
    with open(out, "w") as handle:
        json.dump(seconds, handle)
"""


@dataclass(frozen=True)
class Variant:
    """One way of embedding: its name and the extra `rag index` flags."""

    name: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Run:
    """One real `rag index`: process wall seconds, embedding seconds, Ray start and stop."""

    wall_s: float
    embed_s: float
    ray_s: float


VARIANTS = (
    Variant("default path (in process)", ()),
    Variant("--ray, 1 worker", ("--ray", "--ray-workers", "1")),
    Variant("--ray, 2 workers", ("--ray", "--ray-workers", "2")),
)


def chunked_store(corpus: Path, store: Path) -> int:
    """Chunk the corpus into a store without embedding it; return its chunk count."""
    subprocess.run(
        [sys.executable, "-m", "ragcli", "ingest", str(corpus), "--store", str(store)]
        + ["--no-index", "-q"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with sqlite3.connect(store / "store.sqlite3") as db:
        return int(db.execute("SELECT COUNT(DISTINCT text_sha256) FROM chunks").fetchone()[0])


def real_index(base: Path, variant: Variant, scratch: Path) -> Run:
    """Run `rag index` on a fresh copy of the chunked store, in a fresh process."""
    store = scratch / "store"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(base, store)
    out = scratch / "seconds.json"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", WRAPPER, str(out), "index", "--store", str(store), "-q"]
        + list(variant.flags),
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    seconds = json.loads(out.read_text())
    embed = seconds["index_chunks"] - seconds["update_index"]
    return Run(wall, embed, seconds["ray_init"] + seconds["ray_shutdown"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--files", type=int, default=740, help="generated corpus files (740: about 5,000 chunks)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per variant (median shown)")
    parser.add_argument("--quick", action="store_true", help="40 files: a check that it runs")
    args = parser.parse_args()
    if args.quick:
        args.files = 40
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        corpus = scratch / "corpus"
        make_corpus(corpus, args.files)
        base = scratch / "chunked"
        chunks = chunked_store(corpus, base)
        # A first run exports the ONNX models if the cache lacks them; not timed.
        real_index(base, VARIANTS[0], scratch)
        runs: dict[str, list[Run]] = {v.name: [] for v in VARIANTS}
        for _ in range(args.runs):
            for variant in VARIANTS:  # interleaved: drift on a shared machine hits all
                runs[variant.name].append(real_index(base, variant, scratch))
    print_table(chunks, runs)


def print_table(chunks: int, runs: dict[str, list[Run]]) -> None:
    """One Markdown row per variant: seconds and chunks per second with and without Ray's start."""
    import os
    import platform

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"Embedding {chunks:,} chunks with `rag index` ({machine}, bundled int8 MiniLM)\n")
    print(
        "| variant | process wall s | embedding s incl. Ray start/stop | Ray start+stop s "
        "| chunks/s incl. | chunks/s excl. |"
    )
    print("|---|---|---|---|---|---|")
    for name, measured in runs.items():
        wall = statistics.median(r.wall_s for r in measured)
        embed = statistics.median(r.embed_s for r in measured)
        ray = statistics.median(r.ray_s for r in measured)
        print(
            f"| {name} | {wall:.1f} | {embed:.1f} | {ray:.1f} "
            f"| {chunks / embed:.0f} | {chunks / (embed - ray):.0f} |"
        )


if __name__ == "__main__":
    main()
