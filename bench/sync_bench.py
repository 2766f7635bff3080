"""Sync benchmark: re-ingest cost against a first ingest, and memory on a large corpus.

Prints one table. Run: python bench/sync_bench.py [--files 400] [--big-mb 1024]
The re-ingest part uses the real bundled embedder; the large corpus is ingested with
--no-index (loading, chunking with the real tokenizer, storing), because embedding 1 GB of
text on 2 cores takes most of a day (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_bench import (  # noqa: E402
    RAG,
    ROOT,
    make_corpus,
    measured,
    print_table,
    sample_sentences,
)


def ingest(corpus: Path, store: Path, *extra: str) -> tuple[float, float]:
    """Run `rag ingest` in a fresh process; return wall seconds and peak MiB."""
    return measured([*RAG, "ingest", str(corpus), "--store", str(store), "-q", *extra])


def write_big_corpus(folder: Path, megabytes: int) -> int:
    """Write megabytes of prose in 64 MB Markdown files; return the byte count."""
    sentences = sample_sentences()
    rng = random.Random(11)
    folder.mkdir(parents=True)
    total, number = 0, 0
    while total < megabytes * 1_000_000:
        with (folder / f"big{number:03d}.md").open("w", encoding="utf-8") as handle:
            written = 0
            while written < 64_000_000 and total + written < megabytes * 1_000_000:
                paragraph = " ".join(rng.sample(sentences, 5)) + "\n\n"
                handle.write(paragraph)
                written += len(paragraph)
        total += written
        number += 1
    return total


def status(store: Path) -> dict[str, int]:
    done = subprocess.run(
        [*RAG, "status", "--store", str(store), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--big-mb", type=int, default=1024)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        corpus, store = Path(scratch) / "corpus", Path(scratch) / "store"
        make_corpus(corpus, args.files)
        first, peak = ingest(corpus, store)
        chunks = status(store)["chunks"]
        rows.append(
            (
                f"first ingest+index, {args.files} files, {chunks} chunks",
                f"{first:.1f} s, peak {peak:.0f} MiB",
            )
        )
        again, _ = ingest(corpus, store)
        rows.append(("re-ingest, nothing changed", f"{again:.2f} s"))
        rows.append(("re-ingest / first ingest", f"{100 * again / first:.2f} %"))
        for path in sorted(corpus.iterdir()):
            os.utime(path)
        touched, _ = ingest(corpus, store)
        rows.append(
            (
                "re-ingest, every file touched (hashed, none re-parsed)",
                f"{touched:.2f} s ({100 * touched / first:.2f} %)",
            )
        )
        for path in sorted(corpus.iterdir())[::10]:
            path.rename(path.with_name("moved-" + path.name))
        moved, _ = ingest(corpus, store)
        rows.append(
            (
                "re-ingest, a tenth of the files renamed (no re-embedding)",
                f"{moved:.2f} s ({100 * moved / first:.2f} %)",
            )
        )

        big, big_store = Path(scratch) / "big", Path(scratch) / "big-store"
        size = write_big_corpus(big, args.big_mb)
        seconds, peak = ingest(big, big_store, "--no-index")
        big_chunks = status(big_store)["chunks"]
        rows.append(
            (
                f"ingest --no-index of {size / 1e6:,.0f} MB ({big_chunks:,} chunks)",
                f"{seconds:.0f} s, {size / 1e6 / seconds:.1f} MB/s",
            )
        )
        rows.append(("  peak RSS", f"{peak:.0f} MiB"))
    print_table("ragcli sync benchmark", "bundled embedder", rows)


if __name__ == "__main__":
    main()
