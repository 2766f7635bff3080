"""Which cache sequence holds which hypothesis of a batched search."""

from __future__ import annotations

import pytest

from ragcli.llm.branching import BranchStep, BranchTable, sequences_for

HEAD = (1, 2, 3)


def test_a_first_step_starts_every_hypothesis_from_the_head() -> None:
    table = BranchTable(HEAD, sequences_for(2))
    steps = table.plan([(7,), (8,)])
    assert steps == [BranchStep((7,), 1, 0, (7,), 3), BranchStep((8,), 2, 0, (8,), 3)]
    assert table.commit(steps) == []


def test_a_hypothesis_starts_from_its_parent_and_costs_one_token() -> None:
    table = BranchTable(HEAD, sequences_for(2))
    table.commit(table.plan([(7,), (8,)]))
    steps = table.plan([(7, 9), (7, 5)])  # both children of (7,), held in sequence 1
    assert [(s.parent, s.tokens, s.start) for s in steps] == [(1, (9,), 4), (1, (5,), 4)]
    assert {s.sequence for s in steps}.isdisjoint({0, 1, 2})  # parents stay until copied
    assert sorted(table.commit(steps)) == [1, 2]  # the parents' sequences are freed
    assert sorted(table.held()) == sorted(s.sequence for s in steps)


def test_a_hypothesis_with_no_held_parent_evaluates_its_whole_suffix() -> None:
    table = BranchTable(HEAD, sequences_for(1))
    (step,) = table.plan([(4, 5, 6)])
    assert (step.parent, step.tokens, step.start) == (0, (4, 5, 6), 3)


def test_more_hypotheses_than_free_sequences_are_refused() -> None:
    table = BranchTable(HEAD, 2)  # the head and one hypothesis
    with pytest.raises(ValueError):
        table.plan([(7,), (8,)])
    with pytest.raises(ValueError):
        table.plan([()])  # the head's own row comes from evaluating it
