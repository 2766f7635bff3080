"""Measure answers end to end on squad-a: every answering strategy, retrieved and oracle.

Ingests ../shared/data/squad-a/docs into a store (kept with --store, so a re-run embeds
nothing), asks a fixed, seeded sample of its questions with the real bundled models, and
prints one table: SQuAD EM and F1, answer-in-context, grounded (of the answers given),
abstained, mean answer words and seconds a question, for each strategy with what `rag ask`
retrieves and with the gold paragraph given alone (oracle).
With --unanswerable N it also asks N of unanswerable.jsonl (seeded) and reports the share
declined, and SQuAD 2.0's overall F1 over both samples pooled (a correct abstention scores 1,
any answer to an unanswerable question 0). With --probe, every abstention is looked at again
(answering/second_look.py) and its score logged, and the table gains the curve over the
answer threshold: answerable declined against unanswerable declined, and the pooled F1.
`--curve LOG` prints that curve again from a --log file without running a model.
Run: python bench/qa_bench.py [--questions 300] [--seed 0] [--store DIR] [--variant NAME]
     [--unanswerable 300] [--probe VARIANT] [--answer-threshold T] [--log FILE]
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

from ragcli.answering.base import AnswerSettings, Strategy  # noqa: E402
from ragcli.answering.evidence import Embed, Window  # noqa: E402
from ragcli.answering.packed import PackedStrategy  # noqa: E402
from ragcli.answering.prompts import NOT_FOUND  # noqa: E402
from ragcli.answering.sequence import SequenceSettings, SequenceStrategy  # noqa: E402
from ragcli.evaluation.metrics import answer_f1, exact_match, squad_normalize  # noqa: E402
from ragcli.library import Library  # noqa: E402
from ragcli.options import ask_options  # noqa: E402
from ragcli.records import Answer, Chunk, GenerationSettings, Hit  # noqa: E402
from ragcli.settings import defaults  # noqa: E402
from ragcli.steps.ask import Asker  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "squad-a"
GENERATION = GenerationSettings(max_tokens=64, temperature=0.0)


@dataclass(frozen=True)
class Variant:
    """One answering strategy with its settings."""

    strategy: str
    sequence: SequenceSettings | None = None


# Before issue 22: whole chunks (merged where they touch, cut to 300 tokens), 3 passages.
WHOLE_CHUNKS = SequenceSettings(passages=3, window=None)

VARIANTS = {
    "packed": Variant("packed"),
    "sequence": Variant("sequence"),
    "sequence before issue 22 (whole chunks, 3 passages)": Variant("sequence", WHOLE_CHUNKS),
    "sequence, thorough decoding": Variant("sequence", SequenceSettings(thorough=True)),
    "sequence, 3 passages": Variant("sequence", SequenceSettings(passages=3)),
    "sequence, 5 passages": Variant("sequence", SequenceSettings(passages=5)),
    "sequence, uniform p(z|x)": Variant("sequence", SequenceSettings(retrieval_temperature=1e3)),
    "sequence, abstain ratio 30": Variant("sequence", SequenceSettings(abstain_ratio=30.0)),
    "sequence, no copy search": Variant("sequence", SequenceSettings(copy_search=False)),
    "sequence, window 60": Variant("sequence", SequenceSettings(window=Window(60))),
    "sequence, window 100": Variant("sequence", SequenceSettings(window=Window(100))),
    "sequence, window 150": Variant("sequence", SequenceSettings(window=Window(150))),
    "sequence, window + dense 0.5": Variant(
        "sequence", SequenceSettings(window=Window(dense_weight=0.5))
    ),
    "sequence, widen on decline": Variant("sequence", SequenceSettings(widen=True)),
    "sequence, whole chunks, 2 passages": Variant(
        "sequence", SequenceSettings(passages=2, window=None)
    ),
}


def build_store(docs: Path, store_dir: Path) -> None:
    """Ingest the articles with the default settings (unchanged files are skipped)."""
    with Library(replace(defaults(), store=store_dir, stores=(store_dir,))) as library:
        library.ingest([docs])


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


def sentence_embedder(asker: Asker) -> Embed | None:
    """The store's query embedder as a function of texts, for the dense-weight variants."""
    embedder = asker.retriever.embedder
    return None if embedder is None else (lambda texts: embedder.embed(texts))


def make_variant(asker: Asker, variant: Variant, threshold: float) -> Strategy:
    # min_confidence 0: every answer is kept; the confidence curve declines them afterwards.
    settings = AnswerSettings(GENERATION, False, threshold, min_confidence=0.0)
    llm = asker._llm
    strategy: Strategy = (
        PackedStrategy(llm, settings)
        if variant.strategy == "packed"
        else SequenceStrategy(llm, settings, variant.sequence)
    )
    if isinstance(strategy, SequenceStrategy):
        strategy.embed = sentence_embedder(asker)
    strategy.prepare()
    return strategy


def run(
    asker: Asker,
    strategy: Strategy,
    items: list[dict[str, object]],
    hits_of: dict[str, list[Hit]],
    log: list[dict[str, object]],
    label: str,
    probe: bool = False,
) -> tuple[dict[str, float], dict[str, float]]:
    """Ask every question with one strategy; return its row, and the row with --strict.

    --strict only turns ungrounded answers into abstentions, so its row comes from the same
    answers.
    """
    em = f1 = in_context = grounded = abstained = words = 0.0
    strict_em = strict_f1 = strict_words = 0.0
    started = time.perf_counter()
    probing = 0.0
    for item in items:
        question, answers = str(item["question"]), list(item["answers"])  # type: ignore[call-overload]
        hits = hits_of[str(item["id"])]
        answer = asker.generate(question, hits, strategy=strategy)
        look_started = time.perf_counter()
        look = second_look_entry(strategy, answer, answers) if probe else None
        probing += time.perf_counter() - look_started
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
                "kind": "answerable",
                "f1": answer_f1(answer.text, answers) if answer.answerable else 0.0,
                "confidence": answer.confidence,
                "look": look,
            }
        )
    seconds = time.perf_counter() - started - probing
    n, given = max(1, len(items)), max(1, len(items) - abstained)
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


def second_look_entry(
    strategy: Strategy, answer: Answer, answers: list[str]
) -> dict[str, object] | None:
    """An abstention's second look (answering/second_look.py), scored, for the log."""
    if answer.text != NOT_FOUND or not isinstance(strategy, SequenceStrategy):
        return None
    started = time.perf_counter()
    look = strategy.reconsider(answer.question, answer.passages)
    if look is None:
        return None
    return {
        "seconds": time.perf_counter() - started,
        "text": look.text,
        "logprob": look.logprob,
        "tokens": look.tokens,
        "em": exact_match(look.text, answers) if answers else 0.0,
        "f1": answer_f1(look.text, answers) if answers else 0.0,
    }


def run_unanswerable(
    asker: Asker,
    strategy: Strategy,
    items: list[dict[str, object]],
    log: list[dict[str, object]],
    label: str,
    probe: bool,
) -> dict[str, float]:
    """Ask the unanswerable questions; return the share declined and seconds a question."""
    declined = 0
    probing = 0.0
    started = time.perf_counter()
    for item in items:
        question = str(item["question"])
        answer = asker.generate(question, asker.relevant(question), strategy=strategy)
        declined += not answer.answerable
        look_started = time.perf_counter()
        look = second_look_entry(strategy, answer, []) if probe else None
        probing += time.perf_counter() - look_started
        log.append(
            {
                "variant": label,
                "question": question,
                "article": item.get("article"),
                "answer": answer.text,
                "grounded": answer.grounded,
                "answerable": answer.answerable,
                "kind": "unanswerable",
                "confidence": answer.confidence,
                "look": look,
            }
        )
    seconds = time.perf_counter() - started - probing
    return {"declined": 100 * declined / max(1, len(items)), "s_per_q": seconds / len(items)}


def pooled_f1(
    entries: list[dict[str, object]], threshold: float, min_confidence: float = 0.0
) -> dict[str, float]:
    """Answerable declined %, unanswerable declined % and SQuAD 2.0 overall F1 at thresholds.

    An answer whose confidence is below min_confidence becomes an abstention; an abstention
    whose second look scores at least the answer threshold becomes that answer.
    """
    f1 = 0.0
    declined = {"answerable": 0, "unanswerable": 0}
    count = {"answerable": 0, "unanswerable": 0}
    for entry in entries:
        kind = str(entry["kind"])
        count[kind] += 1
        look = entry.get("look")
        confidence = entry.get("confidence")
        kept = bool(entry["answerable"]) and (
            confidence is None or float(confidence) >= min_confidence  # type: ignore[arg-type]
        )
        taken = not entry["answerable"] and isinstance(look, dict)
        taken = taken and float(look["logprob"]) >= threshold  # type: ignore[index]
        answered = kept or taken
        if not answered:
            declined[kind] += 1
        if kind == "unanswerable":
            f1 += not answered
        elif kept:
            f1 += float(entry["f1"])  # type: ignore[arg-type]
        elif taken:
            f1 += float(look["f1"])  # type: ignore[index]
    total = max(1, sum(count.values()))
    return {
        "answerable_declined": 100 * declined["answerable"] / max(1, count["answerable"]),
        "unanswerable_declined": 100 * declined["unanswerable"] / max(1, count["unanswerable"]),
        "pooled_f1": 100 * f1 / total,
    }


CURVE = (1.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -10.0, -12.0, -15.0, -20.0, -1e9)
CONFIDENCES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def print_curve(entries: list[dict[str, object]]) -> None:
    """The threshold curve of one variant's logged answers (1 is today's: never reconsider)."""
    print("| answer threshold | answerable declined | unanswerable declined | pooled F1 |")
    print("|---|---|---|---|")
    for threshold in CURVE:
        row = pooled_f1(entries, threshold)
        shown = "off (1)" if threshold > 0 else "always" if threshold < -1e8 else f"{threshold:g}"
        print(
            f"| {shown} | {row['answerable_declined']:.1f}% "
            f"| {row['unanswerable_declined']:.1f}% | {row['pooled_f1']:.1f} |"
        )


def print_confidence_curve(entries: list[dict[str, object]]) -> None:
    """The curve over the least confidence an answer needs to be given (0: today's)."""
    print("| min confidence | answerable declined | unanswerable declined | pooled F1 |")
    print("|---|---|---|---|")
    for least in CONFIDENCES:
        row = pooled_f1(entries, 1.0, least)
        print(
            f"| {least:g} | {row['answerable_declined']:.1f}% "
            f"| {row['unanswerable_declined']:.1f}% | {row['pooled_f1']:.1f} |"
        )


class Log(list[dict[str, object]]):
    """Every answer, also written to a JSONL file as it comes (a long run can be cut short)."""

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self._file = path.open("w") if path else None

    def append(self, entry: dict[str, object]) -> None:
        super().append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()


def parse_args() -> argparse.Namespace:
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
    parser.add_argument(
        "--unanswerable", type=int, default=0, help="also ask N unanswerable questions (seeded)"
    )
    parser.add_argument(
        "--answer-threshold",
        type=float,
        default=defaults().answer_threshold,
        help="the sequence strategy's answer threshold [the default setting]",
    )
    parser.add_argument(
        "--probe",
        action="append",
        choices=list(VARIANTS),
        default=[],
        help="look again at each abstention of this variant (repeatable); print its curves",
    )
    parser.add_argument(
        "--curve", type=Path, default=None, help="print the curve of a --probe log; no model"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.curve:
        entries = [json.loads(line) for line in args.curve.read_text().splitlines() if line]
        for variant in dict.fromkeys(str(e["variant"]) for e in entries):
            print(f"{variant}:")
            print_curve([e for e in entries if e["variant"] == variant])
            print_confidence_curve([e for e in entries if e["variant"] == variant])
        return
    items = sample_questions(args.data / "questions.jsonl", args.questions, args.seed)
    unanswerable = sample_questions(args.data / "unanswerable.jsonl", args.unanswerable, args.seed)
    names = args.variant or ["packed", "sequence", "sequence, thorough decoding"]
    log = Log(args.log)
    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as scratch:
        store_dir = args.store or Path(scratch) / "store"
        build_store(args.data / "docs", store_dir)
        options = replace(
            ask_options(defaults()),
            stores=(store_dir,),
            llm_spec="default",
            generation=GENERATION,
        )
        with Asker(options) as asker:
            retrieved = {str(i["id"]): asker.relevant(str(i["question"])) for i in items}
            blocks = paragraphs(args.data / "docs")
            oracle = {}
            for item in items:
                hit = oracle_hit(str(item["question"]), list(item["answers"]), blocks)  # type: ignore[call-overload]
                oracle[str(item["id"])] = [hit] if hit else []
            for name in names:
                strategy = make_variant(asker, VARIANTS[name], args.answer_threshold)
                # The oracle reads one passage, so variants of retrieval and decoding
                # would repeat the strategy's own oracle row.
                with_oracle = not args.no_oracle and name in ("packed", "sequence")
                contexts = [("retrieved", retrieved)] + (
                    [("oracle", oracle)] if with_oracle else []
                )
                for context, hits_of in contexts:
                    label = f"{name}/{context}"
                    probe = name in args.probe
                    row, strict = run(asker, strategy, items, hits_of, log, label, probe)
                    if context == "retrieved" and unanswerable:
                        row |= unanswerable_row(asker, strategy, unanswerable, log, label, args)
                    rows += [(name, context, row), (f"{name} --strict", context, strict)]
                    print(json.dumps({"variant": name, "context": context, **row}), file=sys.stderr)
    print_table(args, len(items), len(unanswerable), rows)
    if args.probe:
        for variant in dict.fromkeys(str(e["variant"]) for e in log):
            if variant.split("/")[0] not in args.probe:
                continue
            entries = [e for e in log if e["variant"] == variant]
            print(f"\n{variant}: abstentions looked at again, by answer threshold")
            print_curve(entries)
            print(f"\n{variant}: answers declined below a confidence")
            print_confidence_curve(entries)


def unanswerable_row(
    asker: Asker,
    strategy: Strategy,
    items: list[dict[str, object]],
    log: Log,
    label: str,
    args: argparse.Namespace,
) -> dict[str, float]:
    """The unanswerable sample's share declined, and the overall F1 pooled with the rest."""
    probe = label.split("/")[0] in args.probe
    found = run_unanswerable(asker, strategy, items, log, label, probe)
    pooled = pooled_f1([e for e in log if e["variant"] == label], 1.0)
    return {"unanswerable_declined": found["declined"], "pooled_f1": pooled["pooled_f1"]}


def print_table(
    args: argparse.Namespace,
    answerable: int,
    unanswerable: int,
    rows: list[tuple[str, str, dict[str, float]]],
) -> None:
    """The markdown table of every variant's figures."""
    print(
        f"squad-a: {answerable} questions + {unanswerable} unanswerable (seed {args.seed}), "
        f"bundled models, answer threshold {args.answer_threshold:g}"
    )
    print(
        "| strategy | context | EM | F1 | answer in context | grounded | abstained "
        "| unanswerable declined | pooled F1 | answer words | s/question |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, context, row in rows:
        declined = row.get("unanswerable_declined")
        pooled = row.get("pooled_f1")
        print(
            f"| {name} | {context} | {row['em']:.1f} | {row['f1']:.1f} "
            f"| {row['in_context']:.1f}% | {row['grounded']:.1f}% | {row['abstained']:.1f}% "
            f"| {'' if declined is None else f'{declined:.1f}%'} "
            f"| {'' if pooled is None else f'{pooled:.1f}'} "
            f"| {row['words']:.1f} | {row['s_per_q']:.2f} |"
        )


if __name__ == "__main__":
    main()
