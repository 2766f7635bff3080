"""ragcli.evaluation.metrics: BEIR/pytrec_eval metrics and percentiles, on hand-computed cases."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from ragcli.evaluation.metrics import (
    mrr_at_k,
    ndcg_at_k,
    overlap_at_k,
    percentile,
    recall_at_k,
    score_run,
)
from ragcli.records import RetrievalScores


def test_ndcg_of_a_single_relevant_doc_at_rank_two() -> None:
    assert ndcg_at_k(["x", "a", "y"], {"a": 1}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["x", "a", "y"], {"a": 1}, 10) == pytest.approx(0.6309298)


def test_ndcg_uses_linear_graded_gains() -> None:
    # DCG = 1/log2(2) + 0 + 2/log2(4) = 2; ideal DCG = 2/log2(2) + 1/log2(3).
    ndcg = ndcg_at_k(["b", "x", "a"], {"a": 2, "b": 1, "c": 0}, 10)

    assert ndcg == pytest.approx(2 / (2 + 1 / math.log2(3)))
    assert ndcg == pytest.approx(0.7601875)


def test_ndcg_ideal_ranking_is_one_and_cut_at_k() -> None:
    relevant = {"a": 1, "b": 1, "c": 1}

    assert ndcg_at_k(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    # Only one slot: the ideal DCG holds one relevant doc too.
    assert ndcg_at_k(["a"], relevant, 1) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], relevant, 1) == 0.0


def test_ndcg_is_zero_without_relevant_docs() -> None:
    assert ndcg_at_k(["a"], {}, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0


def test_recall_at_10_and_100() -> None:
    ranked = [f"d{i}" for i in range(1, 201)]
    relevant = {"d5": 1, "d50": 2, "d150": 1, "d7": 0}

    assert recall_at_k(ranked, relevant, 10) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 100) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, {}, 10) == 0.0


def test_mrr_takes_the_first_relevant_within_k() -> None:
    ranked = [f"d{i}" for i in range(1, 21)]

    assert mrr_at_k(ranked, {"d3": 1, "d5": 2}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(ranked, {"d11": 1}, 10) == 0.0
    assert mrr_at_k(ranked, {"d1": 0, "d2": 1}, 10) == pytest.approx(1 / 2)


def test_cut_off_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], {"a": 1}, 0)


def test_score_run_averages_judged_queries_and_zeros_missing_ones() -> None:
    qrels = {
        "q1": {"a": 1},
        "q2": {"b": 1},  # absent from the run: counts as all zeros
        "q3": {"c": 0},  # nothing relevant: left out of the mean
    }
    run = {"q1": ["x", "a"], "q3": ["c"], "q9": ["a"]}

    scores = score_run(run, qrels)

    assert scores.queries == 2
    assert scores.ndcg_at_10 == pytest.approx((1 / math.log2(3)) / 2)
    assert scores.recall_at_10 == pytest.approx(0.5)
    assert scores.recall_at_100 == pytest.approx(0.5)
    assert scores.mrr_at_10 == pytest.approx(0.25)


def test_score_run_without_judged_queries_is_zero() -> None:
    assert score_run({"q1": ["a"]}, {"q1": {"a": 0}}) == RetrievalScores(0.0, 0.0, 0.0, 0.0, 0)


def test_overlap_against_exact_search() -> None:
    assert overlap_at_k([1, 2, 3, 4], [1, 3, 5, 6], 4) == pytest.approx(0.5)
    # Beyond k on either side does not count.
    assert overlap_at_k([9, 1], [1, 2], 1) == 0.0
    # Fewer exact hits than k: the denominator is what exact search could return.
    assert overlap_at_k([2, 9, 1], [1, 2], 10) == pytest.approx(1.0)
    assert overlap_at_k([1, 2], [], 10) == 1.0


@pytest.mark.parametrize("size", [1, 2, 7, 100, 1001])
def test_percentile_matches_numpy(size: int) -> None:
    rng = random.Random(size)
    values = [rng.uniform(-50.0, 500.0) for _ in range(size)]

    for q in (0, 1, 25, 50, 90, 95, 99, 99.9, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_rejects_no_values_and_bad_q() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
