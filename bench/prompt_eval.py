"""Measure answering strategies and prompt templates on a QA set over sample_docs/.

For each strategy (the `sequence` strategy, and the `packed` strategy with each of its
templates), each question is answered twice by the real bundled models: once with only the
passage holding the answer (`oracle`, the measurement the prompt is designed on) and once
with what `rag ask` retrieves (`retrieved`). Prints token F1 (SQuAD-style), the share of
answers containing a gold answer, and how often unanswerable questions are declined.
Run: python bench/prompt_eval.py [--qa FILE] [--store DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.answering import prompts  # noqa: E402
from ragcli.answering.base import AnswerSettings, Strategy  # noqa: E402
from ragcli.answering.packed import PackedStrategy  # noqa: E402
from ragcli.answering.sequence import SequenceSettings, SequenceStrategy  # noqa: E402
from ragcli.library import Library  # noqa: E402
from ragcli.options import ask_options  # noqa: E402
from ragcli.records import GenerationSettings, Hit  # noqa: E402
from ragcli.retrieval.retriever import RetrievalSettings  # noqa: E402
from ragcli.settings import defaults  # noqa: E402
from ragcli.steps.ask import Asker  # noqa: E402

TEMPLATES: dict[str, prompts.PromptTemplate | SequenceSettings] = {
    "sequence (default)": SequenceSettings(),
    "sequence, no copy search": SequenceSettings(copy_search=False),
    "packed: instructions only": replace(prompts.DEFAULT_TEMPLATE, shots=()),
    "packed: 2 shots (no counting)": replace(
        prompts.DEFAULT_TEMPLATE, shots=(prompts.SHOTS[0], prompts.SHOTS[2])
    ),
    "packed: 3 shots, best first": replace(prompts.DEFAULT_TEMPLATE, best_last=False),
    "packed (3 shots, best last)": prompts.DEFAULT_TEMPLATE,
}


def strategy_for(asker: Asker, name: str) -> Strategy:
    """The sequence strategy, or the packed strategy with one of its templates."""
    options = asker.options
    settings = AnswerSettings(
        options.generation, False, options.answer_threshold, options.min_confidence
    )
    template = TEMPLATES[name]
    strategy: Strategy = (
        SequenceStrategy(asker._llm, settings, template)
        if isinstance(template, SequenceSettings)
        else PackedStrategy(asker._llm, settings, template)
    )
    strategy.prepare()
    return strategy


def normalise(text: str) -> list[str]:
    """SQuAD answer normalisation: lower case, no punctuation, no articles."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) - {"%", "."})
    text = re.sub(r"\.(?!\d)", " ", text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 between a prediction and one gold answer."""
    predicted, expected = normalise(prediction), normalise(gold)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def build_store(store_dir: Path) -> None:
    """Ingest sample_docs/ into a throw-away store with the default settings."""
    with Library(replace(defaults(), store=store_dir, stores=(store_dir,))) as library:
        library.ingest([ROOT / "sample_docs"])


def gold_hit(asker: Asker, evidence: str) -> Hit | None:
    """The retrieved-or-not chunk that holds the evidence sentence."""
    target = " ".join(evidence.split())
    for hit in asker.retrieve(evidence):
        if target in " ".join(hit.chunk.text.split()):
            return Hit(hit.chunk, 1.0)
    return None


def evaluate(
    askers: dict[str, Asker], items: list[dict[str, object]], templates: list[str]
) -> list[dict[str, object]]:
    """Score each template with the oracle passage and with each retrieval mode."""
    rows = []
    oracle_asker = next(iter(askers.values()))
    for name in templates:
        for mode in ("oracle", *(f"retrieved ({m})" for m in askers)):
            asker = oracle_asker if mode == "oracle" else askers[mode[11:-1]]
            f1s, found, declined, answerable_n, unanswerable_n = [], 0, 0, 0, 0
            started = time.perf_counter()
            strategy = strategy_for(asker, name)
            for item in items:
                question, answers = str(item["question"]), list(item["answers"])  # type: ignore[call-overload]
                if mode == "oracle" and answers:
                    gold = gold_hit(asker, str(item["evidence"]))
                    hits = [gold] if gold else []
                else:
                    hits = asker.relevant(question)
                text = (
                    asker.generate(question, hits, strategy=strategy).text
                    if hits
                    else (prompts.NOT_FOUND)
                )
                if answers:
                    answerable_n += 1
                    f1s.append(max(token_f1(text, a) for a in answers))
                    found += any(a.lower() in text.lower() for a in answers)
                else:
                    unanswerable_n += 1
                    declined += prompts.NOT_FOUND in text
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "template": name,
                    "mode": mode,
                    "f1": 100 * sum(f1s) / max(1, len(f1s)),
                    "contains_gold": 100 * found / max(1, answerable_n),
                    "declined_unanswerable": 100 * declined / max(1, unanswerable_n),
                    "s_per_question": seconds / max(1, len(items)),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=ROOT / "bench" / "qa_sample_docs.jsonl")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument(
        "--template",
        action="append",
        choices=list(TEMPLATES),
        help="template to score (repeatable) [default: all]",
    )
    parser.add_argument(
        "--retrieval",
        action="append",
        choices=["hybrid", "dense", "keyword"],
        help="retrieval mode for the retrieved runs (repeatable) [hybrid]",
    )
    args = parser.parse_args()
    items = [json.loads(line) for line in args.qa.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as scratch:
        store_dir = args.store or Path(scratch) / "store"
        if args.store is None:
            build_store(store_dir)
        askers = {}
        for retrieval in args.retrieval or ["hybrid"]:
            options = replace(
                ask_options(defaults()),
                stores=(store_dir,),
                llm_spec="default",
                generation=GenerationSettings(max_tokens=48, temperature=0.0),
                retrieval=RetrievalSettings(mode=retrieval),
            )
            askers[retrieval] = Asker(options)
        try:
            rows = evaluate(askers, items, args.template or list(TEMPLATES))
        finally:
            for asker in askers.values():
                asker.close()
    answerable = sum(1 for i in items if i["answers"])
    print(f"{len(items)} questions ({answerable} answerable), bundled models, max_tokens 48")
    print(
        f"{'strategy / template':32} {'mode':20} {'F1':>6} {'gold in answer':>15} "
        f"{'declined unanswerable':>22} {'s/question':>11}"
    )
    for row in rows:
        print(
            f"{row['template']:32} {row['mode']:20} {row['f1']:6.1f} "
            f"{row['contains_gold']:14.1f}% {row['declined_unanswerable']:21.1f}% "
            f"{row['s_per_question']:11.2f}"
        )


if __name__ == "__main__":
    main()
