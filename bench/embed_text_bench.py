"""What the heading path and the chunk overlap cost in tokens embedded, and give in retrieval.

Run: python bench/embed_text_bench.py tokens FOLDER...   (chunking only: seconds)
     python bench/embed_text_bench.py eval VARIANT [--scifact DIR]   (one `rag eval`: minutes)

VARIANT is `default`, `no-heading` (chunks embedded without their heading path: an
experiment-only switch, patched in-process, not a user option), `no-overlap`
(overlap_tokens 0) or `neither`. `tokens` prints, for each folder of files, the chunks and
the word pieces embedded under each variant; `eval` prints SciFact test nDCG@10 (hybrid
and dense) of one variant, one Markdown row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("default", "no-heading", "no-overlap", "neither")

# Runs `rag` in-process with the variant's chunking patched in.
WRAPPER = """
import sys
import ragcli.build as build
import ragcli.records as records
variant = sys.argv[1]
if variant in ("no-overlap", "neither"):  # what a new store is built with
    build.DEFAULT_CHUNKING = records.ChunkingSettings(
        build.DEFAULT_CHUNKING.chunk_tokens, 0)
if variant in ("no-heading", "neither"):
    records.Chunk.embed_text = property(lambda chunk: chunk.text)
from ragcli.cli import main
main(sys.argv[2:])
"""


def token_costs(folders: list[Path]) -> None:
    """Print chunks and tokens embedded per variant for each folder (chunking only)."""
    from ragcli.bundled import BUNDLED_EMBEDDER
    from ragcli.embedding.factory import make_embedder
    from ragcli.records import DEFAULT_CHUNKING, ChunkingSettings
    from ragcli.text.chunking import ChunkBudget, split_into_chunks
    from ragcli.text.loaders import kind_of, load_document, read_source

    embedder = make_embedder(BUNDLED_EMBEDDER)
    print("| corpus | variant | chunks | distinct texts | tokens embedded | vs default |")
    print("|---|---|---|---|---|---|")
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if kind_of(p))
        totals: dict[str, tuple[int, int, int]] = {}
        for overlap in (DEFAULT_CHUNKING.overlap_tokens, 0):
            settings = ChunkingSettings(DEFAULT_CHUNKING.chunk_tokens, overlap)
            budget = ChunkBudget(settings, embedder.max_text_tokens, embedder.count_tokens)
            chunks = [
                c
                for path in files
                for c in split_into_chunks(
                    load_document(read_source(path), str(kind_of(path))), budget
                )
            ]
            headed = list({c.embed_text for c in chunks})
            bare = list({c.text for c in chunks})
            name = "default" if overlap else "no-overlap"
            totals[name] = (len(chunks), len(headed), sum(embedder.count_tokens(headed)))
            name = "no-heading" if overlap else "neither"
            totals[name] = (len(chunks), len(bare), sum(embedder.count_tokens(bare)))
        base = totals["default"][2]
        for name in VARIANTS:
            count, distinct, tokens = totals[name]
            print(
                f"| {folder.name} ({len(files)} files) | {name} | {count:,} | {distinct:,} "
                f"| {tokens:,} | {tokens / base - 1:+.1%} |"
            )


def evaluate(variant: str, scifact: Path) -> None:
    """Run `rag eval` on SciFact test with the variant; print its nDCG@10 row."""
    command = [
        sys.executable,
        "-c",
        WRAPPER,
        variant,
        "eval",
        str(scifact),
        "--mode",
        "hybrid",
        "--mode",
        "dense",
        "--json",
        "-q",
    ]
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    report = json.loads(done.stdout)
    scores = report["modes"]
    print(
        f"| {variant} | {report['chunks']:,} | {scores['hybrid']['ndcg_at_10']:.4f} "
        f"| {scores['dense']['ndcg_at_10']:.4f} | {report['ingest_s']:.0f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    tokens = sub.add_parser("tokens")
    tokens.add_argument("folders", nargs="+", type=Path)
    run = sub.add_parser("eval")
    run.add_argument("variant", choices=VARIANTS)
    run.add_argument("--scifact", type=Path, default=ROOT.parent / "shared/data/scifact")
    args = parser.parse_args()
    if args.what == "tokens":
        token_costs(args.folders)
    else:
        evaluate(args.variant, args.scifact)


if __name__ == "__main__":
    main()
