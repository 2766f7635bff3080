"""Retrieval and answer quality figures, computed as BEIR, pytrec_eval and SQuAD compute them.

Graded relevance is a gain as is (linear, like pytrec_eval's ndcg_cut), so nDCG figures are
comparable with published BEIR tables. A grade of 0 or below means "judged, not relevant".
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

from ragcli.records import RetrievalScores

Qrels = Mapping[str, Mapping[str, int]]
"""Query id -> doc id -> relevance grade (above 0 is relevant)."""

Run = Mapping[str, Sequence[str]]
"""Query id -> ranked doc ids, best first, without duplicates."""


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Return nDCG@k with linear gains and a 1/log2(rank + 1) discount; 0.0 if none relevant."""
    _check_cutoff(k)
    ideal_grades = sorted((grade for grade in relevant.values() if grade > 0), reverse=True)
    ideal = _dcg(ideal_grades[:k])
    if ideal == 0.0:
        return 0.0
    return _dcg([max(relevant.get(doc_id, 0), 0) for doc_id in ranked[:k]]) / ideal


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Return the share of relevant docs found in the top k; 0.0 if none relevant."""
    _check_cutoff(k)
    wanted = {doc_id for doc_id, grade in relevant.items() if grade > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Return 1/rank of the first relevant doc in the top k, or 0.0 if there is none."""
    _check_cutoff(k)
    for rank, doc_id in enumerate(ranked[:k], start=1):
        if relevant.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def score_run(run: Run, qrels: Qrels) -> RetrievalScores:
    """Average the metrics over qrels queries with a relevant doc; unanswered ones score 0."""
    judged = [qid for qid, grades in qrels.items() if any(g > 0 for g in grades.values())]
    if not judged:
        return RetrievalScores(0.0, 0.0, 0.0, 0.0, queries=0)
    totals = [0.0, 0.0, 0.0, 0.0]
    for query_id in judged:
        ranked, relevant = run.get(query_id, ()), qrels[query_id]
        totals[0] += ndcg_at_k(ranked, relevant, 10)
        totals[1] += recall_at_k(ranked, relevant, 10)
        totals[2] += recall_at_k(ranked, relevant, 100)
        totals[3] += mrr_at_k(ranked, relevant, 10)
    ndcg, recall_10, recall_100, mrr = (total / len(judged) for total in totals)
    return RetrievalScores(ndcg, recall_10, recall_100, mrr, queries=len(judged))


def overlap_at_k(found: Sequence[int], exact: Sequence[int], k: int) -> float:
    """Return how many of exact search's top k an approximate search found in its own top k."""
    _check_cutoff(k)
    if not exact:
        return 1.0
    return len(set(found[:k]).intersection(exact[:k])) / min(k, len(exact))


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0..100) interpolated linearly, as numpy.percentile does."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def _dcg(gains: Sequence[int]) -> float:
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def _check_cutoff(k: int) -> None:
    if k < 1:
        raise ValueError(f"cut-off k must be at least 1, got {k}")


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize(text: str) -> str:
    """Normalise an answer as the official SQuAD v1.1 script does.

    Lower-case, drop punctuation and the articles a/an/the, collapse white space.
    """
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """Return 1.0 when the normalised prediction equals any normalised gold answer."""
    predicted = squad_normalize(prediction)
    return float(any(predicted == squad_normalize(gold) for gold in golds))


def answer_f1(prediction: str, golds: Sequence[str]) -> float:
    """Return the best token-overlap F1 of the prediction against any gold answer."""
    return max((_token_f1(prediction, gold) for gold in golds), default=0.0)


def _token_f1(prediction: str, gold: str) -> float:
    predicted, expected = squad_normalize(prediction).split(), squad_normalize(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)
