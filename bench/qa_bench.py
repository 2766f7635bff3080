"""Measure answers end to end on squad-a: every answering strategy, retrieved and oracle.

Ingests ../shared/data/squad-a/docs into a store (kept with --store, so a re-run embeds
nothing), asks a fixed, seeded sample of its questions with the real bundled models, and
prints one table: SQuAD EM and F1, answer-in-context, grounded (of the answers given),
abstained, mean answer words and seconds a question, for each strategy with what `rag ask`
retrieves and with the gold paragraph given alone (oracle).
Run: python bench/qa_bench.py [--questions 300] [--seed 0] [--store DIR] [--variant NAME]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.answering import AnswerSettings, Strategy  # noqa: E402
from ragcli.answering.packed import PackedStrategy  # noqa: E402
from ragcli.answering.sequence import SequenceSettings, SequenceStrategy  # noqa: E402
from ragcli.build import BuildSettings  # noqa: E402
from ragcli.discovery import DiscoveryOptions  # noqa: E402
from ragcli.evaluation.metrics import answer_f1, exact_match, squad_normalize  # noqa: E402
from ragcli.progress import SilentProgress  # noqa: E402
from ragcli.records import Chunk, GenerationSettings, Hit  # noqa: E402
from ragcli.settings import defaults, model_cache_dir  # noqa: E402
from ragcli.steps.ask import Asker, AskOptions  # noqa: E402
from ragcli.steps.ingest import IngestOptions, ingest  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "squad-a"
GENERATION = GenerationSettings(max_tokens=64, temperature=0.0)


@dataclass(frozen=True)
class Variant:
    """One answering strategy with its settings."""

    strategy: str
    sequence: SequenceSettings | None = None


VARIANTS = {
    "packed": Variant("packed"),
    "sequence": Variant("sequence"),
    "sequence, thorough decoding": Variant("sequence", SequenceSettings(thorough=True)),
    "sequence, 5 passages": Variant("sequence", SequenceSettings(passages=5)),
    "sequence, uniform p(z|x)": Variant("sequence", SequenceSettings(retrieval_temperature=1e3)),
    "sequence, 200-token passages": Variant("sequence", SequenceSettings(passage_tokens=200)),
    "sequence, 2 passages": Variant("sequence", SequenceSettings(passages=2)),
    "sequence, abstain ratio 30": Variant("sequence", SequenceSettings(abstain_ratio=30.0)),
    "sequence, no copy search": Variant("sequence", SequenceSettings(copy_search=False)),
}


def build_store(docs: Path, store_dir: Path) -> None:
    """Ingest the articles with the default settings (unchanged files are skipped)."""
    options = IngestOptions(
        paths=(docs,),
        store_dir=store_dir,
        build=BuildSettings.as_stored(),
        discovery=DiscoveryOptions(),
        index=True,
        batch_size=defaults().batch_size,
        dry_run=False,
        wait=True,
    )
    ingest(options, SilentProgress())


def sample_questions(path: Path, count: int, seed: int) -> list[dict[str, object]]:
    """A fixed, seeded sample of the questions."""
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return random.Random(seed).sample(items, min(count, len(items)))


def paragraphs(docs: Path) -> list[tuple[str, str]]:
    """Every paragraph of every article, with its file name."""
    found = []
    for path in sorted(docs.glob("*.txt")):
        for block in path.read_text(encoding="utf-8").split("\n\n")[1:]:
            if block.strip():
                found.append((path.name, block.strip()))
    return found


def oracle_hit(question: str, answers: list[str], blocks: list[tuple[str, str]]) -> Hit | None:
    """The paragraph holding a gold answer that shares the most words with the question."""
    words = set(squad_normalize(question).split())
    best: tuple[int, str, str] | None = None
    for name, text in blocks:
        normal = f" {squad_normalize(text)} "
        if any(f" {squad_normalize(a)} " in normal for a in answers):
            shared = len(words & set(normal.split()))
            if best is None or shared > best[0]:
                best = (shared, name, text)
    if best is None:
        return None
    chunk = Chunk(best[2], best[1], None, 1, 1 + best[2].count("\n"), 0, len(best[2]))
    return Hit(chunk, 1.0, dense=1.0)


def make_variant(asker: Asker, variant: Variant) -> Strategy:
    settings = AnswerSettings(GENERATION, strict=False)
    llm = asker._llm
    strategy: Strategy = (
        PackedStrategy(llm, settings)
        if variant.strategy == "packed"
        else SequenceStrategy(llm, settings, variant.sequence)
    )
    strategy.prepare()
    return strategy


def run(
    asker: Asker,
    strategy: Strategy,
    items: list[dict[str, object]],
    hits_of: dict[str, list[Hit]],
    log: list[dict[str, object]],
    label: str,
) -> tuple[dict[str, float], dict[str, float]]:
    """Ask every question with one strategy; return its row, and the row with --strict.

    --strict only turns ungrounded answers into abstentions, so its row comes from the same
    answers.
    """
    em = f1 = in_context = grounded = abstained = words = 0.0
    strict_em = strict_f1 = strict_words = 0.0
    started = time.perf_counter()
    for item in items:
        question, answers = str(item["question"]), list(item["answers"])  # type: ignore[call-overload]
        hits = hits_of[str(item["id"])]
        answer = asker.generate(question, hits, strategy=strategy)
        context = " ".join(squad_normalize(p.text) for p in answer.passages)
        in_context += any(f" {squad_normalize(a)} " in f" {context} " for a in answers)
        if answer.answerable:
            em += exact_match(answer.text, answers)
            f1 += answer_f1(answer.text, answers)
            grounded += answer.grounded
            words += len(answer.text.split())
            if answer.grounded:
                strict_em += exact_match(answer.text, answers)
                strict_f1 += answer_f1(answer.text, answers)
                strict_words += len(answer.text.split())
        else:
            abstained += 1
        log.append(
            {
                "variant": label,
                "question": question,
                "answers": answers,
                "answer": answer.text,
                "grounded": answer.grounded,
                "answerable": answer.answerable,
            }
        )
    seconds = time.perf_counter() - started
    n, given = len(items), max(1, len(items) - abstained)
    row = {
        "em": 100 * em / n,
        "f1": 100 * f1 / n,
        "in_context": 100 * in_context / n,
        "grounded": 100 * grounded / given,
        "abstained": 100 * abstained / n,
        "words": words / given,
        "s_per_q": seconds / n,
    }
    strict = {
        **row,
        "em": 100 * strict_em / n,
        "f1": 100 * strict_f1 / n,
        "grounded": 100.0,
        "abstained": 100 * (n - grounded) / n,
        "words": strict_words / max(1, grounded),
    }
    return row, strict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", type=Path, default=None, help="keep the store here")
    parser.add_argument(
        "--variant",
        action="append",
        choices=list(VARIANTS),
        help="variant to measure (repeatable) [packed, sequence, sequence, thorough decoding]",
    )
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle runs")
    parser.add_argument("--log", type=Path, default=None, help="write every answer (JSONL)")
    args = parser.parse_args()
    items = sample_questions(args.data / "questions.jsonl", args.questions, args.seed)
    names = args.variant or ["packed", "sequence", "sequence, thorough decoding"]
    with tempfile.TemporaryDirectory() as scratch:
        store_dir = args.store or Path(scratch) / "store"
        build_store(args.data / "docs", store_dir)
        options = replace(
            AskOptions.from_settings(defaults(), model_cache_dir(), strict=False),
            stores=(store_dir,),
            llm_spec="default",
            generation=GENERATION,
        )
        log: list[dict[str, object]] = []
        rows: list[tuple[str, str, dict[str, float]]] = []
        with Asker(options) as asker:
            retrieved = {str(i["id"]): asker.relevant(str(i["question"])) for i in items}
            blocks = paragraphs(args.data / "docs")
            oracle = {}
            for item in items:
                hit = oracle_hit(str(item["question"]), list(item["answers"]), blocks)  # type: ignore[call-overload]
                oracle[str(item["id"])] = [hit] if hit else []
            for name in names:
                strategy = make_variant(asker, VARIANTS[name])
                # The oracle reads one passage, so variants of retrieval and decoding
                # would repeat the strategy's own oracle row.
                with_oracle = not args.no_oracle and name in ("packed", "sequence")
                contexts = [("retrieved", retrieved)] + (
                    [("oracle", oracle)] if with_oracle else []
                )
                for context, hits_of in contexts:
                    row, strict = run(asker, strategy, items, hits_of, log, f"{name}/{context}")
                    rows += [(name, context, row), (f"{name} --strict", context, strict)]
                    print(json.dumps({"variant": name, "context": context, **row}), file=sys.stderr)
    if args.log:
        args.log.write_text("".join(json.dumps(entry) + "\n" for entry in log))
    print(f"squad-a: {len(items)} questions (seed {args.seed}), bundled models")
    print(
        "| strategy | context | EM | F1 | answer in context | grounded | abstained "
        "| answer words | s/question |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, context, row in rows:
        print(
            f"| {name} | {context} | {row['em']:.1f} | {row['f1']:.1f} "
            f"| {row['in_context']:.1f}% | {row['grounded']:.1f}% | {row['abstained']:.1f}% "
            f"| {row['words']:.1f} | {row['s_per_q']:.2f} |"
        )


if __name__ == "__main__":
    main()
